"""The alerts table: episodes raised by the alert rules (``guichets.alerts``), and the reads the
rules need from the probes (the recent tail to replay, each service's last probe).

The rules themselves live above the store; this module only holds their SQL, so that every query
of the database stays in ``store/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, or_, select, update

from guichets.store import Store, as_utc
from guichets.store.schema import alerts, probes

__all__ = [
    "KINDS",
    "AlertRecord",
    "ProbePoint",
    "close_alert",
    "insert_alert",
    "last_probes",
    "probe_tail",
    "read_alerts",
]

KINDS: Final = ("closed", "blind", "layout_changed", "stalled")
TAIL_PAGE: Final = 5000  # rows per read of the tail


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert: what, about whom, since when, and the probes and figures behind it."""

    id: str
    kind: str
    cause: str
    service: str | None
    platform: str | None
    departement: str | None
    since: datetime
    opened_at: datetime
    last_seen: datetime
    closed_at: datetime | None = None
    opened_by: tuple[str, ...] = ()
    closed_by: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @property
    def ended_at(self) -> datetime:
        """When it closed; while open, the last probe that showed it."""
        return self.closed_at if self.closed_at is not None else self.last_seen

    @property
    def subject(self) -> str:
        """The service id, or ``platform:NAME`` for an alert about a whole platform."""
        return self.service if self.service is not None else f"platform:{self.platform}"

    def closing(
        self, at: datetime, last_seen: datetime, by: str | None, **figures: Any
    ) -> AlertRecord:
        return replace(
            self,
            closed_at=at,
            last_seen=last_seen,
            closed_by=by,
            figures={**self.figures, **figures},
        )

    def to_json(self) -> dict[str, Any]:
        """The ``guichets alerts list --format json`` row."""
        return {
            "id": self.id,
            "kind": self.kind,
            "cause": self.cause,
            "service": self.service,
            "platform": self.platform,
            "departement": self.departement,
            "since": self.since.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "closed_at": None if self.closed_at is None else self.closed_at.isoformat(),
            "open": self.open,
            "opened_by": list(self.opened_by),
            "closed_by": self.closed_by,
            "figures": self.figures,
        }


@dataclass(frozen=True, slots=True)
class ProbePoint:
    """What the rules read of a probe: who, when, and what it found."""

    probe_id: str
    service: str
    platform: str
    departement: str | None
    at: datetime  # started_at, UTC
    outcome: str
    detail: str
    first_slot: datetime | None = None


def _values(record: AlertRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "cause": record.cause,
        "service": record.service,
        "platform": record.platform,
        "departement": record.departement,
        "since": record.since,
        "opened_at": record.opened_at,
        "last_seen": record.last_seen,
        "closed_at": record.closed_at,
        "opened_by": json.dumps(list(record.opened_by)),
        "closed_by": record.closed_by,
        "figures": json.dumps(record.figures, ensure_ascii=False, sort_keys=True),
    }


def _record(row: Any) -> AlertRecord:
    m = row._mapping
    return AlertRecord(
        id=m["id"],
        kind=m["kind"],
        cause=m["cause"],
        service=m["service"],
        platform=m["platform"],
        departement=m["departement"],
        since=m["since"],
        opened_at=m["opened_at"],
        last_seen=m["last_seen"],
        closed_at=m["closed_at"],
        opened_by=tuple(json.loads(m["opened_by"])),
        closed_by=m["closed_by"],
        figures=json.loads(m["figures"]),
    )


def insert_alert(store: Store, record: AlertRecord) -> None:
    """Store a new alert (open, or already closed when a replay found the whole episode)."""
    with store.writing("record an alert") as conn:
        conn.execute(alerts.insert().values(**_values(record)))


def close_alert(store: Store, record: AlertRecord) -> None:
    """Record that an alert ended (``record`` as returned by :meth:`AlertRecord.closing`)."""
    values = _values(record)
    with store.writing("close an alert") as conn:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == record.id)
            .values(
                closed_at=values["closed_at"],
                last_seen=values["last_seen"],
                closed_by=values["closed_by"],
                figures=values["figures"],
            )
        )


def read_alerts(
    store: Store,
    *,
    open_only: bool = False,
    since: datetime | None = None,
    service: str | None = None,
    departement: str | None = None,
) -> list[AlertRecord]:
    """Alerts by opening time; ``since``: those open at or after that instant."""
    query = select(alerts).order_by(alerts.c.opened_at, alerts.c.id)
    if open_only:
        query = query.where(alerts.c.closed_at.is_(None))
    if since is not None:
        query = query.where(or_(alerts.c.closed_at.is_(None), alerts.c.closed_at >= since))
    if service is not None:
        query = query.where(alerts.c.service == service)
    if departement is not None:
        query = query.where(alerts.c.departement == departement)
    with store.reading("read alerts") as conn:
        return [_record(row) for row in conn.execute(query)]


_TAIL_COLUMNS: Final = (
    probes.c.probe_id,
    probes.c.service,
    probes.c.platform,
    probes.c.departement,
    probes.c.started_at,
    probes.c.outcome,
    probes.c.detail,
    probes.c.first_slot,
)


def probe_tail(store: Store, since: datetime) -> Iterator[ProbePoint]:
    """Every probe started at or after ``since``, in time order, in pages (bounded memory)."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(*_TAIL_COLUMNS).order_by(probes.c.started_at, probes.c.probe_id)
        if after is None:
            query = query.where(probes.c.started_at >= since)
        else:
            at, ident = after
            query = query.where(
                probes.c.started_at >= at,
                or_(probes.c.started_at > at, probes.c.probe_id > ident),
            )
        with store.reading("read the recent probes") as conn:
            rows = conn.execute(query.limit(TAIL_PAGE)).all()
        for r in rows:
            yield ProbePoint(
                probe_id=r.probe_id,
                service=r.service,
                platform=r.platform,
                departement=r.departement,
                at=as_utc(r.started_at),
                outcome=r.outcome,
                detail=r.detail,
                first_slot=None if r.first_slot is None else as_utc(r.first_slot),
            )
        if len(rows) < TAIL_PAGE:
            return
        after = (as_utc(rows[-1].started_at), rows[-1].probe_id)


def last_probes(store: Store) -> dict[str, tuple[datetime, str | None, str]]:
    """Each service's last probe: (started_at, département, platform)."""
    last = (
        select(probes.c.service, func.max(probes.c.started_at).label("at"))
        .group_by(probes.c.service)
        .subquery()
    )
    query = select(
        probes.c.service, probes.c.started_at, probes.c.departement, probes.c.platform
    ).join(last, (probes.c.service == last.c.service) & (probes.c.started_at == last.c.at))
    with store.reading("read each service's last probe") as conn:
        return {
            r.service: (as_utc(r.started_at), r.departement, r.platform)
            for r in conn.execute(query)
        }
