"""Runs of the robot: when each started, its heartbeats and its end, so that a gap in the probes
can be told apart from a gap in the robot (the report counts only the time a run was alive).
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
    update,
)

from guichets.store.engine import StoreBase, StoreError, _aware
from guichets.store.schema import (
    runs,
)


@dataclass(frozen=True, slots=True)
class Run:
    """One run of the robot: when it started, its last sign of life, and when it ended."""

    id: str
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None
    hostname: str
    version: str
    command: str
    catalogue_digest: str | None


def _row_to_run(row: Any) -> Run:
    return Run(
        id=row.id,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        ended_at=row.ended_at,
        hostname=row.hostname,
        version=row.version,
        command=row.command,
        catalogue_digest=row.catalogue_digest,
    )


class Runs(StoreBase):
    """Runs of the robot."""

    def start_run(
        self,
        *,
        command: str,
        version: str,
        catalogue_digest: str | None,
        at: datetime,
        hostname: str | None = None,
    ) -> str:
        """Record that a run starts now; returns its id for the probes and heartbeats."""
        _aware("at", at)
        run_id = uuid.uuid4().hex
        with self._writing("start a run") as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    started_at=at,
                    heartbeat_at=at,
                    ended_at=None,
                    hostname=hostname if hostname is not None else socket.gethostname(),
                    version=version,
                    command=command,
                    catalogue_digest=catalogue_digest,
                )
            )
        return run_id

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Record that the run is alive at ``at``: its gaps are the robot's, not the sites'."""
        self._touch(run_id, "record a heartbeat", heartbeat_at=_aware("at", at))

    def end_run(self, run_id: str, at: datetime) -> None:
        """Record that the run ended cleanly at ``at`` (a run that died keeps ended_at null)."""
        _aware("at", at)
        self._touch(run_id, "end a run", heartbeat_at=at, ended_at=at)

    def _touch(self, run_id: str, action: str, **values: datetime) -> None:
        with self._writing(action) as conn:
            done = conn.execute(
                update(runs).where(runs.c.id == run_id, runs.c.ended_at.is_(None)).values(**values)
            )
            if done.rowcount == 1:
                return
            known = conn.execute(select(runs.c.ended_at).where(runs.c.id == run_id)).first()
        if known is None:
            raise StoreError(f"cannot {action}: no run {run_id!r} in {self.url!r}")
        raise StoreError(f"cannot {action}: run {run_id!r} already ended at {known.ended_at}")

    def runs(self, *, since: datetime | None = None) -> list[Run]:
        """Runs that were alive at or after ``since``, oldest first."""
        query = select(runs).order_by(runs.c.started_at, runs.c.id)
        if since is not None:
            query = query.where(runs.c.heartbeat_at >= _aware("since", since))
        with self._guard("read runs"), self._connect() as conn:
            return [_row_to_run(row) for row in conn.execute(query)]
