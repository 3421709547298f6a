"""Writing probes: one probe (and its kept page, and its day's rollup) per transaction, never
rewritten; a second probe for a period of the schedule that already has one is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from guichets.model import Observation, Outcome, Step
from guichets.store.engine import StoreBase, StoreError, _aware, _first_line
from guichets.store.rollups import RollupWriter
from guichets.store.schema import (
    kept_pages,
    probes,
)
from guichets.tally import facts_of


def _dump_steps(trail: tuple[Step, ...]) -> str:
    return json.dumps(
        [
            {
                "method": step.method,
                "url": step.url,
                "status": step.status,
                "at": _aware("step.at", step.at).astimezone(UTC).isoformat(),
                "note": step.note,
            }
            for step in trail
        ],
        ensure_ascii=False,
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Who made a probe and from where (``guichets worker``); a replicate is a second probe of
    a period from another vantage point, which statistics never count (``replicate_of`` holds
    the period's key)."""

    worker: str | None = None
    vantage: str | None = None
    replicate_of: str | None = None


def _origin_values(origin: Origin | None) -> dict[str, str | None]:
    if origin is None:
        return {}
    return {"worker": origin.worker, "vantage": origin.vantage, "replicate_of": origin.replicate_of}


class Probes(StoreBase):
    """Writing probes."""

    def __init__(self, engine: Engine, url: str) -> None:
        super().__init__(engine, url)
        # Built once with bind parameters, not per probe with .values(): a third of the time.
        insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
        self._insert_probe = (
            insert(probes)
            .on_conflict_do_nothing(index_elements=[probes.c.service, probes.c.period_key])
            .returning(probes.c.probe_id)  # rowcount is not reliable here on every driver
        )
        self._rollups = RollupWriter(engine.dialect.name)  # see rollups.py

    def save(
        self,
        observation: Observation,
        *,
        run_id: str | None = None,
        period_key: str | None = None,
        scheduled_for: datetime | None = None,
        robots_override: str | None = None,
        origin: Origin | None = None,
    ) -> bool:
        """Store one probe (and its kept page) in one transaction.

        Returns False, storing nothing, when the service already has a probe for ``period_key``:
        after a restart the earlier probe stands. Probes without a period key always store.
        """
        row = self._probe_row(observation, run_id, period_key, scheduled_for, robots_override)
        row.update(_origin_values(origin))
        return self._save(observation, row)

    def _save(
        self,
        observation: Observation,
        row: dict[str, Any],
        also: Callable[[Connection, dict[str, Any]], None] | None = None,
    ) -> bool:
        """The probe's transaction; ``also`` adds to it (the evidence's rows and ledger entry)."""
        try:
            with self._writing("save a probe") as conn:
                if conn.execute(self._insert_probe, row).first() is None:
                    return False
                # Replicates and assisted reads stay out of the robot's figures.
                if row.get("replicate_of") is None and not observation.assisted:
                    self._rollups.add(conn, facts_of(observation))  # its day, same transaction
                if observation.kept_page is not None:
                    conn.execute(
                        kept_pages.insert().values(
                            probe_id=observation.probe_id,
                            url=observation.kept_url or observation.url,
                            body=observation.kept_page,
                        )
                    )
                if also is not None:
                    also(conn, row)
        except IntegrityError as exc:
            raise StoreError(
                f"cannot save probe {observation.probe_id!r} in {self.url!r}: "
                f"{_first_line(exc)} (a probe id is stored once; a run id must exist)"
            ) from exc
        return True

    @staticmethod
    def _probe_row(
        o: Observation,
        run_id: str | None,
        period_key: str | None,
        scheduled_for: datetime | None,
        robots_override: str | None,
    ) -> dict[str, Any]:
        _aware("started_at", o.started_at)
        _aware("finished_at", o.finished_at)
        if scheduled_for is not None:
            _aware("scheduled_for", scheduled_for)
        if o.horizon_end is not None:
            _aware("horizon_end", o.horizon_end)
        for slot in o.slots:
            _aware("slot", slot)
        outcome = Outcome(o.outcome)
        category = o.category
        return {
            "probe_id": o.probe_id,
            "run_id": run_id,
            "service": o.service,
            "departement": o.departement,
            "platform": o.platform,
            "url": o.url,
            "counter": o.counter,
            "period_key": period_key,
            "scheduled_for": scheduled_for,
            "started_at": o.started_at,
            "finished_at": o.finished_at,
            "outcome": outcome.value,
            "detail": str(o.detail),
            "category": None if category is None else category.value,
            "first_slot": o.first_slot,
            "slots_count": len(o.slots),
            "slots": json.dumps([slot.isoformat() for slot in o.slots]),
            "horizon_end": o.horizon_end,
            "requests": o.requests,
            "http_status": o.http_status,
            "message": o.message,
            "trail": _dump_steps(o.trail),
            "extra": json.dumps(dict(o.extra), ensure_ascii=False),
            "cpu_seconds": float(o.cpu_seconds),
            "robots_override": robots_override,
            "worker": None,
            "vantage": None,
            "replicate_of": None,
            "assisted": o.assisted,
            "person": o.person,
        }

    def period_keys(self, service: str, since: datetime) -> set[str]:
        """The schedule slots of ``service`` already probed, among probes started since ``since``.

        The runner asks this on start, so that a restart does not probe a slot twice.
        """
        query = select(probes.c.period_key).where(
            probes.c.service == service,
            probes.c.started_at >= _aware("since", since),
            probes.c.period_key.is_not(None),
        )
        with self._guard("read period keys"), self._connect() as conn:
            return {key for (key,) in conn.execute(query)}
