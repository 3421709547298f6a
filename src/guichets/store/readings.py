"""Reading probes back: as :class:`~guichets.model.Observation` in pages of short transactions
(a long report never holds a connection open), and the few columns the analyses read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    Text,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from guichets.model import PARIS, Observation, Outcome, Step
from guichets.periods import DateRange, local_day
from guichets.store.engine import StoreBase, _aware
from guichets.store.schema import (
    kept_pages,
    probes,
)

PAGE: Final = 1000  # rows per read transaction in observations()
_POINTS_PAGE: Final = 5000  # rows fetched at a time by iter_probe_points


def as_utc(value: Any) -> datetime:
    """An instant of the probes table as read: PostgreSQL gives an aware datetime, SQLite through
    ``UTCDateTime`` too, and a raw SQLite column (fast readers) the naive UTC text stored."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(value + "+00:00")  # the usual text, parsed in one step
    except ValueError:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def after_position(position: tuple[datetime, str]) -> ColumnElement[bool]:
    """Probes sorting after ``position`` (started_at, probe_id); spelt so that SQLite walks the
    ``started_at`` index from there (an ``OR`` alone makes it start over from the first probe
    of the range every time, so that each page costs more than the last)."""
    at, probe_id = position
    return and_(
        probes.c.started_at >= at, or_(probes.c.started_at > at, probes.c.probe_id > probe_id)
    )


def _load_steps(data: str) -> tuple[Step, ...]:
    return tuple(
        Step(
            method=item["method"],
            url=item["url"],
            status=item["status"],
            at=datetime.fromisoformat(item["at"]).astimezone(UTC),
            note=item.get("note", ""),
        )
        for item in json.loads(data)
    )


def _load_slots(data: str) -> tuple[datetime, ...]:
    """Slots as stored (wall-clock and offset); in Europe/Paris where that zone agrees.

    Europe/Paris datetimes compare equal when they differ only by ``fold`` (PEP 495), so the two
    02:30 of the night the clocks go back can only be told apart with fixed offsets: then the
    slots keep the offsets they were stored with.
    """
    fixed = tuple(datetime.fromisoformat(item) for item in json.loads(data))
    paris = tuple(
        local if local.utcoffset() == slot.utcoffset() else slot
        for slot, local in ((slot, slot.astimezone(PARIS)) for slot in fixed)
    )
    return paris if list(paris) == sorted(set(paris)) else fixed


class Readings(StoreBase):
    """Reading probes."""

    def observations(
        self,
        *,
        service: str | None = None,
        departement: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        replicates: bool = False,
        assisted: bool | None = None,
        person: str | None = None,
    ) -> Iterator[Observation]:
        """Stored probes started in [since, until), ordered by start then id; the replicates
        of a second vantage point only when asked (statistics never count them); only the
        robot's (``assisted=False``), only assisted ones (``True``) or both (``None``), and only
        one person's when ``person`` is given.

        Read in pages of short transactions: a long report never holds a connection (nor, on
        SQLite, the WAL) open while its caller works. Kept pages are not loaded: see
        :meth:`kept_page`.
        """
        where: list[ColumnElement[bool]] = [] if replicates else [probes.c.replicate_of.is_(None)]
        if service is not None:
            where.append(probes.c.service == service)
        if departement is not None:
            where.append(probes.c.departement == departement)
        if since is not None:
            where.append(probes.c.started_at >= _aware("since", since))
        if until is not None:
            where.append(probes.c.started_at < _aware("until", until))
        if assisted is not None:
            where.append(probes.c.assisted.is_(true() if assisted else false()))
        if person is not None:
            where.append(probes.c.person == person)
        base = (
            select(probes, kept_pages.c.url.label("kept_url"))
            .select_from(probes.outerjoin(kept_pages))
            .where(*where)
            .order_by(probes.c.started_at, probes.c.probe_id)
            .limit(PAGE)
        )
        return self._pages(base)  # not a generator itself: bad arguments fail here, not later

    def _pages(self, base: Select[Any]) -> Iterator[Observation]:
        for row in self.probe_pages(base):
            yield self._observation(row._mapping)

    def probe_pages(
        self, base: Select[Any], after: tuple[datetime, str] | None = None
    ) -> Iterator[Row[Any]]:
        """The rows of ``base`` (a select of probes ordered by ``started_at, probe_id`` and
        limited to :data:`PAGE` rows) sorting after ``after``, read in pages of short
        transactions, each resuming after the last row read (``observations`` and the open-data
        export both read this way)."""
        while True:
            query = base if after is None else base.where(after_position(after))
            with self._guard("read probes"), self._connect() as conn:
                rows = conn.execute(query).all()
            yield from rows
            if len(rows) < PAGE:
                return
            after = (as_utc(rows[-1].started_at), rows[-1].probe_id)

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        """A read-only connection for queries of other modules; errors name the database."""
        with self._guard(action), self._connect() as conn:
            yield conn

    @staticmethod
    def _observation(row: RowMapping) -> Observation:
        horizon_end: datetime | None = row["horizon_end"]
        return Observation(
            probe_id=row["probe_id"],
            service=row["service"],
            platform=row["platform"],
            url=row["url"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=Outcome(row["outcome"]),
            detail=row["detail"],
            slots=_load_slots(row["slots"]),
            horizon_end=None if horizon_end is None else horizon_end.astimezone(PARIS),
            counter=row["counter"],
            requests=row["requests"],
            http_status=row["http_status"],
            message=row["message"],
            departement=row["departement"],
            trail=_load_steps(row["trail"]),
            kept_page=None,
            kept_url=row["kept_url"],
            cpu_seconds=row["cpu_seconds"],
            extra=json.loads(row["extra"]),
            assisted=bool(row["assisted"]),
            person=row["person"],
        )

    def latest_observations(self, service: str, limit: int) -> list[Observation]:
        """The robot's ``limit`` latest probes of ``service``, latest first (off its index)."""
        return self.latest_observations_of([service], limit)[service]

    def latest_observations_of(
        self, services: Iterable[str], limit: int
    ) -> dict[str, list[Observation]]:
        """:meth:`latest_observations` of each of ``services``, in one connection: the site
        asks it of every service at each build."""
        query = (
            select(probes, kept_pages.c.url.label("kept_url"))
            .select_from(probes.outerjoin(kept_pages))
            .where(probes.c.service == bindparam("service"), probes.c.assisted.is_(false()))
            .order_by(probes.c.started_at.desc(), probes.c.probe_id.desc())
            .limit(limit)
        )
        found: dict[str, list[Observation]] = {}
        with self._guard("read the latest probes"), self._connect() as conn:
            for service in services:
                rows = conn.execute(query, {"service": service})
                found[service] = [self._observation(row._mapping) for row in rows]
        return found

    def kept_page(self, probe_id: str) -> bytes | None:
        """The page kept with a probe (unrecognized pages only), or None."""
        query = select(kept_pages.c.body).where(kept_pages.c.probe_id == probe_id)
        with self._guard("read a kept page"), self._connect() as conn:
            body = conn.execute(query).scalar_one_or_none()
        return None if body is None else bytes(body)

    def count(self) -> int:
        """How many probes are stored."""
        with self._guard("count probes"), self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(probes)).scalar_one())

    def probe_days(self) -> DateRange | None:
        """The Paris dates of the first and the last stored probe; None without probes."""
        # Two queries: SQLite reads a lone min() or max() off the index, not both at once.
        first_q = select(func.min(probes.c.started_at))
        last_q = select(func.max(probes.c.started_at))
        with self._guard("read the probes' dates"), self._connect() as conn:
            first = conn.execute(first_q).scalar_one()
            last = conn.execute(last_q).scalar_one()
        if first is None or last is None:
            return None
        return DateRange(local_day(first), local_day(last))

    def last_probe_at(self) -> datetime | None:
        """When the last stored probe started; None without probes."""
        with self._guard("read the last probe's time"), self._connect() as conn:
            last = conn.execute(select(func.max(probes.c.started_at))).scalar_one()
        return None if last is None else as_utc(last)

    def services(self) -> list[str]:
        """The ids of the services that have stored probes, sorted."""
        query = select(probes.c.service).distinct().order_by(probes.c.service)
        with self._guard("read service ids"), self._connect() as conn:
            return [service for (service,) in conn.execute(query)]

    def probe_points(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> list[tuple[str, datetime, str, str | None]]:
        """(service, started_at, outcome, category) of every probe of the robot's in ``days``, by
        service and time: the sequence the release analysis reads, without whole observations."""
        return list(self.iter_probe_points(days, service=service, departement=departement))

    def iter_probe_points(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> Iterator[tuple[str, datetime, str, str | None]]:
        """:meth:`probe_points` one at a time, read off the driver's cursor in pages: the
        release analysis of a month of 500 services (370,000 probes) holds one service's probes
        at a time, not the month's, and skips SQLAlchemy's rows (half the reading time)."""
        query = select(
            probes.c.service,
            type_coerce(probes.c.started_at, Text).label("started_at"),
            probes.c.outcome,
            probes.c.category,
        ).where(
            probes.c.started_at >= days.start,
            probes.c.started_at < days.end,
            probes.c.assisted.is_(false()),
        )
        if service is not None:
            query = query.where(probes.c.service == service)
        if departement is not None:
            query = query.where(probes.c.departement == departement)
        query = query.order_by(probes.c.service, probes.c.started_at)
        with self._guard("read probes"), self._connect() as conn:
            cursor = conn.execute(query).cursor
            while page := cursor.fetchmany(_POINTS_PAGE):
                for s, at, o, c in page:
                    yield s, as_utc(at), o, c
