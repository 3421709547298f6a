"""Report rows: shares with denominators and intervals, levels and periods, blocked spells, the
robot's own gaps, and the JSON contract. Rows are built from probes through the same rollups as
the database's, so each figure is checked against counts made here by hand."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta

import pytest
from rich.console import Console

from guichets.model import Outcome
from guichets.periods import DateRange, Grain, month_range, parse_month
from guichets.stats.indicators import DayStatus, longest_blocked_spell, robot_gaps
from guichets.stats.render import rows_table
from guichets.stats.report import Level, build_report, group_rows, rollups_of
from guichets.stats.wilson import wilson_interval
from guichets.tally import Tally, facts_of
from tests.observations import mixed_probes, observation

CONTRACT = ("service", "departement", "period", "probes", "valid", "A", "B", "C", "D", "E",
            "failure_rate", "failure_rate_ci", "site_error_rate", "barrier_rate", "first_slot",
            "median_lead_days")  # fmt: skip


def _rows(observations, whole, **kw):  # type: ignore[no-untyped-def]
    return build_report(rollups_of(map(facts_of, observations)), whole, **kw)


def test_service_rows_count_by_hand() -> None:
    probes = mixed_probes()
    whole = DateRange(date(2026, 10, 1), date(2026, 11, 30))
    rows = {r.key: r for r in _rows(probes, whole)}
    assert set(rows) == {"38-grenoble-renouvellement", "69-lyon-etudiants"}
    for service, row in rows.items():
        mine = [o for o in probes if o.service == service]
        valid = [o for o in mine if o.outcome.valid]
        e = [o for o in valid if o.category == "E"]
        data = row.to_json()
        assert data["probes"] == len(mine) and data["valid"] == len(valid)
        assert data["E"] == len(e) and data["failure_rate"] == len(e) / len(valid)
        assert data["failure_rate_ci"] == list(wilson_interval(len(e), len(valid)) or [])
        barriers = sum(1 for o in mine if o.outcome is Outcome.BARRIER)
        assert data["barrier_rate"] == barriers / len(mine)
        assert data["barrier_by_kind"]["blocked"]["count"] == barriers
        assert data["site_error_rate"] == sum(1 for o in mine if o.outcome == "site_error") / len(
            mine
        )
        assert sum(data[c] for c in "ABCDE") == len(valid), "barriers and errors are never E"
        first = min(o.first_slot for o in mine if o.first_slot is not None)
        assert data["first_slot"] == first.isoformat()
        assert data["period"] == "2026-10-01/2026-11-30"
        assert all(key in data for key in CONTRACT)


def test_only_barriers_and_errors_give_no_failure_rate() -> None:
    at = datetime(2026, 10, 5, 8, tzinfo=UTC)
    probes = [observation(i, at + timedelta(hours=i), Outcome.BARRIER) for i in range(5)]
    probes += [observation(9, at, Outcome.SITE_ERROR)]
    (row,) = _rows(probes, month_range(2026, 10))
    data = row.to_json()
    assert data["valid"] == 0 and data["E"] == 0
    assert data["failure_rate"] is None and data["failure_rate_ci"] is None
    assert data["median_lead_days"] is None
    assert data["barrier_rate"] == 5 / 6 and data["site_error_rate"] == 1 / 6


def test_levels_pool_the_probes_of_their_services() -> None:
    probes = mixed_probes()
    probes += [observation(9000 + i, datetime(2026, 10, 20, 9, i, tzinfo=UTC), days=(1, 2),
                           service="38-grenoble-premiere-demande") for i in range(10)]  # fmt: skip
    whole = month_range(2026, 10)
    services = _rows(probes, whole)
    isere = _rows(probes, whole, level=Level.DEPARTEMENT)[0]
    france = _rows(probes, whole, level=Level.FRANCE)
    assert [r.key for r in _rows(probes, whole, level=Level.DEPARTEMENT)] == ["38", "69"]
    assert isere.services == {"38-grenoble-renouvellement", "38-grenoble-premiere-demande"}
    mine = [r for r in services if r.departement == "38"]
    assert isere.tally.valid == sum(r.tally.valid for r in mine)
    assert isere.failure.count == sum(r.failure.count for r in mine)
    assert isere.to_json()["departement_name"] == "Isère"
    assert isere.longest_blocked_days == max(r.longest_blocked_days for r in mine)
    assert len(france) == 1 and france[0].tally.probes == sum(r.tally.probes for r in services)
    (site,) = _rows(probes, whole, level=Level.SITE)
    assert site.key == "www.isere.gouv.fr" and site.to_json()["service"] is None


def test_periods_cut_on_paris_days() -> None:
    probes = mixed_probes()
    whole = DateRange(date(2026, 10, 20), date(2026, 11, 8))
    by_month = _rows(probes, whole, grain=Grain.MONTH)
    assert sorted({r.period for r in by_month}) == ["2026-10", "2026-11"]
    november = [r for r in by_month if r.period == "2026-11"]
    assert november[0].days == DateRange(date(2026, 11, 1), date(2026, 11, 8)), "cut to the range"
    # 23:30 UTC on 31 October is 00:30 on 1 November in Paris.
    late = [o for o in probes if o.started_at >= datetime(2026, 10, 31, 23, tzinfo=UTC)]
    assert sum(r.tally.probes for r in november) == len(late)
    weeks = {r.period for r in _rows(probes, whole, grain=Grain.WEEK)}
    assert weeks == {"2026-W43", "2026-W44"}
    days = {r.period for r in _rows(probes, whole, grain=Grain.DAY)}
    assert "2026-10-25" in days and "2026-11-01" in days
    assert {r.period for r in _rows(probes, whole, grain=Grain.YEAR)} == {"2026"}
    assert parse_month("2026-10").label() == "2026-10"


def test_longest_blocked_spell_counts_days_without_a_date_and_stops_at_gaps() -> None:
    at = datetime(2026, 10, 1, 8, tzinfo=UTC)
    day = timedelta(days=1)
    probes = [
        observation(1, at, days=(3,)),  # 1 Oct: open
        observation(2, at + day), observation(3, at + 2 * day),  # 2-3 Oct: nothing
        observation(4, at + 3 * day, Outcome.SITE_ERROR),  # 4 Oct: down, no date either
        observation(5, at + 4 * day, Outcome.BARRIER),  # 5 Oct: blocked
        # 6 Oct: no probe at all, the robot was away: a gap ends the spell
        observation(6, at + 6 * day), observation(7, at + 7 * day),  # 7-8 Oct: nothing
        observation(8, at + 8 * day, days=(1, 2)),  # 9 Oct: open
    ]  # fmt: skip
    (row,) = _rows(probes, month_range(2026, 10))
    assert row.longest_blocked_days == 4
    assert row.to_json()["days_probed"] == 8 and row.to_json()["days"] == 31
    statuses = [DayStatus.CLOSED, DayStatus.GAP, DayStatus.BLIND, DayStatus.CLOSED]
    assert longest_blocked_spell(statuses) == 2
    assert longest_blocked_spell([]) == 0


def test_settled_days_keep_their_number_and_refuse_to_be_grouped() -> None:
    """The site keeps closed months' rows without their probed days (their memory at national
    scale): what is published from them must not move, and merging them again must fail."""
    whole = DateRange(date(2026, 10, 1), date(2026, 11, 30))
    rows = _rows(mixed_probes(), whole)
    before = [r.to_json() for r in rows]
    grouped = [r.to_json() for r in group_rows(rows, Level.FRANCE)]
    for row in rows:
        row.settle_days()
        assert not row.probed_days
    assert [r.to_json() for r in rows] == before
    assert all(d["days_probed"] > 0 for d in before)
    with pytest.raises(ValueError, match="settled"):
        group_rows(rows, Level.FRANCE)
    assert grouped[0]["days_probed"] >= max(d["days_probed"] for d in before)


def test_settled_rows_read_the_same_in_less_memory_and_refuse_to_be_added_to() -> None:
    """The site holds every month's rows settled (22 000 at national scale): their tallies
    without samples, read only, the empty assisted tally and the empty parts shared by a
    month's rows, which carry them once when pickled together (the months' cache, a forked
    worker's answer); what is published from them does not move."""
    whole = DateRange(date(2026, 10, 1), date(2026, 11, 30))
    rows = _rows(mixed_probes(), whole)
    before = [r.to_json() for r in rows]
    for row in rows:
        row.settle_leads((0.5, 0.9))
        row.settle_days()
    assert [r.to_json() for r in rows] == before
    again = pickle.loads(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
    assert [r.to_json() for r in again] == before
    assert len({id(r.assisted) for r in again}) == 1 and not again[0].assisted.probes
    assert len({id(r.tally.leads) for r in again} | {id(r.assisted.leads) for r in again}) == 1
    assert len({id(r.probed_days) for r in again}) == 1
    assert not hasattr(again[0], "__dict__") and not hasattr(again[0].tally, "__dict__")
    for row in again:
        with pytest.raises(TypeError, match="settled"):
            row.assisted += rows[0].tally
        with pytest.raises(TypeError, match="settled"):
            row.tally += rows[0].tally
    total = Tally()
    for row in again:  # a settled tally is still added to another (the press summary's sum)
        total += row.tally
    assert total.probes == sum(d["probes"] for d in before)


def test_blocked_is_not_closed_closed_and_blind_days_are_told_apart() -> None:
    """2-3 October found no date (closed, as a person would have found it); 4-5 October the robot
    could not read (blind: a site error, a barrier): two runs of two days, not one of four."""
    at = datetime(2026, 10, 1, 8, tzinfo=UTC)
    day = timedelta(days=1)
    probes = [
        observation(1, at, days=(3,)),  # 1 Oct: open
        observation(2, at + day), observation(3, at + 2 * day),  # 2-3 Oct: closed
        observation(4, at + 3 * day, Outcome.SITE_ERROR),  # 4 Oct: blind
        observation(5, at + 4 * day, Outcome.BARRIER),  # 5 Oct: blind
        observation(6, at + 5 * day, Outcome.BARRIER),  # 6 Oct: blind
        observation(7, at + 6 * day),  # 7 Oct: closed
        observation(8, at + 7 * day, Outcome.BARRIER),  # 8 Oct: blind
        observation(9, at + 8 * day, days=(1, 2)),  # 9 Oct: open
    ]  # fmt: skip
    (row,) = _rows(probes, month_range(2026, 10))
    data = row.to_json()
    assert (data["longest_closed_days"], data["longest_blind_days"]) == (2, 3)
    assert data["longest_blocked_days"] == 7  # the earlier figure, both mixed: 2-8 October
    france = group_rows([row], Level.FRANCE)[0]
    assert (france.longest_closed_days, france.longest_blind_days) == (2, 3)


def test_the_robots_own_gaps_are_shown_not_blamed_on_the_site() -> None:
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    alive = [(t0, t0 + 10 * h), (t0 + 12 * h, t0 + 20 * h), (t0 + 15 * h, t0 + 18 * h)]
    assert robot_gaps(alive, t0, t0 + 24 * h) == [
        (t0 + 10 * h, t0 + 12 * h),
        (t0 + 20 * h, t0 + 24 * h),
    ]
    assert robot_gaps([], t0, t0 + h) == [(t0, t0 + h)]
    probes = [observation(1, t0 + 2 * h, days=(2,))]
    day = DateRange(date(2026, 10, 1), date(2026, 10, 1))  # Paris day: 22:00 UTC the day before
    (row,) = _rows(probes, day, alive=[(t0 - 2 * h, t0 + 10 * h)], until=t0 + 20 * h)
    # The Paris day runs from 30 Sep 22:00 to 1 Oct 22:00 UTC; nothing known after until.
    assert row.robot_down_hours == pytest.approx(10)
    (unknown,) = _rows(probes, day)
    assert unknown.robot_down_hours is None and unknown.to_json()["robot_down_hours"] is None


def test_lead_times_in_the_row_count_probes_that_found_nothing() -> None:
    at = datetime(2026, 10, 5, 8, tzinfo=UTC)
    probes = [observation(i, at + timedelta(hours=i), days=(i + 1.0,)) for i in range(4)]
    probes += [observation(10 + i, at + timedelta(hours=10 + i)) for i in range(6)]
    (row,) = _rows(probes, month_range(2026, 10))
    data = row.to_json()
    assert data["median_lead_days"] is None and data["median_lead_beyond_days"] == 91
    assert data["p90_lead_days"] is None
    (fast,) = _rows(probes[:4] + probes[4:5], month_range(2026, 10))
    assert fast.to_json()["median_lead_days"] == pytest.approx(3.0, abs=1e-3)


def test_the_table_fits_the_terminal_and_drops_the_least_needed_columns_first() -> None:
    rows = _rows(mixed_probes(), DateRange(date(2026, 10, 1), date(2026, 11, 30)))
    seen = {}
    for width in (60, 80, 200):
        console = Console(width=width, record=True, color_system=None)
        console.print(rows_table(rows, "t", width))
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= width
        seen[width] = lines[1]
    assert "lead" in seen[200] and "1st date" in seen[200] and "E 95% CI" in seen[200]
    assert "lead" not in seen[60] and "E 95% CI" in seen[60]
