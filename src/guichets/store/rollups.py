"""Daily rollups in the database: one row per service and Paris day, and its details by kind.

``Store.save`` adds each probe to its day in the probe's own transaction (an upsert that adds
counts and appends lead times, atomic on SQLite and PostgreSQL alike), so the rollups are never
behind the probes. When they are anyway (a database from before the rollups, rows written by
other means), :func:`stale` sees it from two counts read in one statement and :func:`rebuild`
recomputes the days from the raw probes, with the same :class:`~guichets.tally.Tally` code.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any, Final

from sqlalchemy import Connection, and_, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from guichets.model import Category, Outcome
from guichets.periods import DateRange, local_day
from guichets.store import totals
from guichets.store.engine import StoreBase
from guichets.store.schema import daily_details, daily_rollups, probes
from guichets.store.totals import stored
from guichets.tally import (
    CATEGORIES,
    OUTCOMES,
    DayRollup,
    ProbeFacts,
    Tally,
    seconds_list,
    site_of,
)

__all__ = ["COUNT_COLUMNS", "RollupWriter", "Rollups", "read", "rebuild", "stale", "stored"]

OUTCOME_COLUMNS: Final = {o.value: o.value for o in Outcome}
CATEGORY_COLUMNS: Final = {c.value: f"cat_{c.value.lower()}" for c in Category}
COUNT_COLUMNS: Final = (
    "probes",
    *OUTCOME_COLUMNS.values(),
    *CATEGORY_COLUMNS.values(),
    "slots_seen",
)


def _join(values: Iterable[int]) -> str:
    return ",".join(str(v) for v in values)


def _split(text_value: str) -> array[int]:
    return array("q", map(int, text_value.split(","))) if text_value else seconds_list()


def _row(service: str, day: date, departement: str | None, site: str, t: Tally) -> dict[str, Any]:
    row: dict[str, Any] = {
        "service": service,
        "day": day,
        "departement": departement,
        "site": site,
        "probes": t.probes,
        "first_slot": t.first_slot,
        "slots_seen": t.slots_seen,
        "leads": _join(t.leads),
        "censored": _join(t.censored),
    }
    for outcome, column in OUTCOME_COLUMNS.items():
        row[column] = t.outcomes[outcome]
    for category, column in CATEGORY_COLUMNS.items():
        row[column] = t.categories[category]
    return row


def _appended(old: Any, new: Any) -> ColumnElement[Any]:
    """``old,new`` as text, without a stray comma when either side is empty."""
    return case((new == "", old), (old == "", new), else_=old + "," + new)


class RollupWriter:
    """The upserts that add one probe to its day; built once per dialect, run per probe."""

    def __init__(self, dialect: str) -> None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        day = insert(daily_rollups)
        old, new = daily_rollups.c, day.excluded
        updates: dict[str, Any] = {c: old[c] + new[c] for c in COUNT_COLUMNS}
        updates["first_slot"] = case(
            (new.first_slot.is_(None), old.first_slot),
            (old.first_slot.is_(None) | (new.first_slot < old.first_slot), new.first_slot),
            else_=old.first_slot,
        )
        updates["leads"] = _appended(old.leads, new.leads)
        updates["censored"] = _appended(old.censored, new.censored)
        self._day = day.on_conflict_do_update(index_elements=["service", "day"], set_=updates)
        detail = insert(daily_details)
        self._detail = detail.on_conflict_do_update(
            index_elements=["service", "day", "outcome", "detail"],
            set_={"probes": daily_details.c.probes + detail.excluded.probes},
        )

    def add(self, conn: Connection, probe: ProbeFacts) -> None:
        """Add one probe to the rollups, in the caller's (the probe's) transaction."""
        tally = Tally()
        tally.add(probe)
        day = local_day(probe.started_at)
        conn.execute(self._day, _row(probe.service, day, probe.departement, probe.site, tally))
        conn.execute(
            self._detail,
            {
                "service": probe.service,
                "day": day,
                "outcome": probe.outcome,
                "detail": probe.detail,
                "probes": 1,
            },
        )


def _filters(table: Any, service: str | None, departement: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if table is probes:
        # A replicate (a second vantage point's probe) is never counted, nor a read behind a
        # captcha a person answered: not of the robot's sample (docs/human-assisted.md).
        where += totals.sample()
    if service is not None:
        where.append(table.c.service == service)
    if departement is not None:
        where.append(table.c.departement == departement)
    return where


def _in_days(days: DateRange) -> ColumnElement[bool]:
    return and_(daily_rollups.c.day >= days.first, daily_rollups.c.day <= days.last)


def stale(
    conn: Connection, days: DateRange, service: str | None = None, departement: str | None = None
) -> bool:
    """Whether the rollups of these days count fewer or more probes than are stored.

    Both counts come from one statement, hence one snapshot, even on PostgreSQL: for a whole
    period, two sums of the running totals the database keeps (``totals.behind``: the same
    numbers); for a service or a département, a count of the probes, each row read.
    """
    if service is None and departement is None:
        found = totals.behind(conn, days)
        if found is not None:
            return found
    raw = (
        select(func.count())
        .select_from(probes)
        .where(
            probes.c.started_at >= days.start,
            probes.c.started_at < days.end,
            *_filters(probes, service, departement),
        )
        .scalar_subquery()
    )
    rolled = (
        select(func.coalesce(func.sum(daily_rollups.c.probes), 0))
        .where(_in_days(days), *_filters(daily_rollups, service, departement))
        .scalar_subquery()
    )
    found, counted = conn.execute(select(raw, rolled)).one()
    return int(found) != int(counted)


def rebuild(
    conn: Connection, days: DateRange, service: str | None = None, departement: str | None = None
) -> int:
    """Recompute the rollups of these days from the raw probes; returns the service-days written.

    Runs in the caller's write transaction. On PostgreSQL it first locks the probes against
    writers, so that no probe is saved (and added to a day) between the read and the write.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE probes IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(
        delete(daily_rollups).where(_in_days(days), *_filters(daily_rollups, service, departement))
    )
    detail_days = and_(daily_details.c.day >= days.first, daily_details.c.day <= days.last)
    detail_where: list[ColumnElement[bool]] = [detail_days]
    if service is not None:
        detail_where.append(daily_details.c.service == service)
    if departement is not None:
        # Details have no département: drop those of the services that have one here.
        services = select(daily_rollups.c.service).where(daily_rollups.c.departement == departement)
        in_range = select(probes.c.service).where(probes.c.departement == departement)
        detail_where.append(daily_details.c.service.in_(services.union(in_range)))
    conn.execute(delete(daily_details).where(*detail_where))
    query = select(
        probes.c.service,
        probes.c.departement,
        probes.c.url,
        probes.c.started_at,
        probes.c.outcome,
        probes.c.detail,
        probes.c.category,
        probes.c.first_slot,
        probes.c.slots_count,
        probes.c.horizon_end,
    ).where(
        probes.c.started_at >= days.start,
        probes.c.started_at < days.end,
        *_filters(probes, service, departement),
    )
    found: dict[tuple[str, date], tuple[str | None, str, Tally]] = {}
    sites: dict[str, str] = {}
    for r in conn.execute(query):
        site = sites.get(r.url)
        if site is None:
            site = sites[r.url] = site_of(r.url)
        facts = ProbeFacts(
            r.service,
            r.departement,
            site,
            r.started_at,
            r.outcome,
            r.detail,
            r.category,
            r.first_slot,
            r.slots_count,
            r.horizon_end,
        )
        key = (r.service, local_day(r.started_at))
        entry = found.get(key)
        if entry is None:
            entry = found[key] = (r.departement, site, Tally())
        entry[2].add(facts)
    if found:
        conn.execute(
            daily_rollups.insert(),
            [_row(s, d, dep, site, t) for (s, d), (dep, site, t) in found.items()],
        )
        conn.execute(
            daily_details.insert(),
            [
                {"service": s, "day": d, "outcome": o, "detail": k, "probes": n}
                for (s, d), (_, _, t) in found.items()
                for (o, k), n in t.details.items()
            ],
        )
    totals.recount(conn, days)  # and the days' running totals, whatever wrote them
    return len(found)


_READ: Final = (
    "service", "day", "departement", "site", "probes", *OUTCOME_COLUMNS.values(),
    *CATEGORY_COLUMNS.values(), "first_slot", "slots_seen", "leads", "censored",
)  # fmt: skip
_N_OUT, _N_CAT = len(OUTCOMES), len(CATEGORIES)


def _ordered(conn: Connection, column: Any) -> Any:
    """``column`` for ORDER BY in code-point order, as Python compares strings (PostgreSQL would
    otherwise sort by its locale, which ignores hyphens)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def read(
    conn: Connection, days: DateRange, service: str | None = None, departement: str | None = None
) -> Iterator[DayRollup]:
    """The rollups of these days with their details, by service and day, one at a time.

    Rows and details are read side by side in the same order (a merge join), so that a year of
    hundreds of services never sits in memory at once.
    """
    table, more = daily_rollups, daily_details
    rows = conn.execute(
        select(*(table.c[name] for name in _READ))
        .where(_in_days(days), *_filters(table, service, departement))
        .order_by(_ordered(conn, table.c.service), table.c.day)
        .execution_options(stream_results=True, yield_per=2000)
    )
    details = select(more.c.service, more.c.day, more.c.outcome, more.c.detail, more.c.probes)
    details = details.where(more.c.day >= days.first, more.c.day <= days.last)
    if service is not None:
        details = details.where(more.c.service == service)
    found = iter(
        conn.execute(
            details.order_by(_ordered(conn, more.c.service), more.c.day).execution_options(
                stream_results=True, yield_per=2000
            )
        )
    )
    pending = next(found, None)
    for row in rows:
        name, day = row[0], row[1]
        counts = row[4 : 5 + _N_OUT + _N_CAT]
        t = Tally(
            probes=counts[0],
            outcomes=dict(zip(OUTCOMES, counts[1 : 1 + _N_OUT], strict=True)),
            categories=dict(zip(CATEGORIES, counts[1 + _N_OUT :], strict=True)),
            first_slot=row[-4],
            slots_seen=row[-3],
            leads=_split(row[-2]),
            censored=_split(row[-1]),
        )
        # Details of services outside a département asked for sort before and are passed by.
        while pending is not None and (pending[0], pending[1]) < (name, day):
            pending = next(found, None)
        while pending is not None and (pending[0], pending[1]) == (name, day):
            t.details[(pending[2], pending[3])] += pending[4]
            pending = next(found, None)
        yield DayRollup(name, day, row[2], row[3], t)


class Rollups(StoreBase):
    """The daily rollups of a store: read, checked against the probes, rebuilt."""

    def rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> Iterator[DayRollup]:
        """What each service's probes add up to, day by day (Paris dates), as stored, by service
        and day; read lazily in one transaction (a year of hundreds of services is not held).

        ``save`` keeps them up to date; call :meth:`refresh_rollups` first to make sure.
        """
        with self._guard("read rollups"), self._connect() as conn:
            yield from read(conn, days, service, departement)

    def refresh_rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> int:
        """Rebuild the rollups of ``days`` if they do not count the probes stored; returns the
        service-days rebuilt (0 when they were right).

        A database from before the rollups, or probes written by other means, are caught here.
        """
        with self._guard("check rollups"), self._connect() as conn:
            behind = stale(conn, days, service, departement)
        if not behind:
            return 0
        return self.rebuild_rollups(days, service=service, departement=departement)

    def rebuild_rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> int:
        """Recompute the rollups of ``days`` from the raw probes, a month at a time (bounded
        memory, short transactions); returns the service-days written."""
        written = 0
        first = days.first
        while first <= days.last:
            chunk = DateRange(first, min(days.last, first + timedelta(days=30)))
            with self._writing("rebuild rollups") as conn:
                written += rebuild(conn, chunk, service, departement)
            first = chunk.last + timedelta(days=1)
        return written

    def rollup_totals(self, days: DateRange) -> list[int]:
        """The rows of ``days`` and the sums of their counts (:data:`COUNT_COLUMNS`), then every
        probe stored in those days (the robot's, its replicates, the assisted reads: not all in
        a rollup): what the site's month cache fingerprints, and how it tells cheaply that a
        month's probes moved. Read from the running totals the database keeps (``totals``): a
        few hundred rows, whatever the number of probes."""
        with self._guard("read the rollups' totals"), self._connect() as conn:
            return totals.read(conn, days)
