"""The alert rules on made-up probe sequences: each rule opens at its threshold and not before,
one odd probe pages no one, each closes on what ends it; and a restart replays the stored probes
without opening twice what the table already holds."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guichets.alerts.monitor import Monitor
from guichets.alerts.rules import Engine, Event, Rules, cause_of
from guichets.model import PARIS, Observation, Outcome
from guichets.store import Store
from guichets.store.alerts import ProbePoint, read_alerts

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
_ids = itertools.count()


def point(
    hours: float,
    outcome: str,
    detail: str = "",
    *,
    service: str = "63-clermont",
    platform: str = "ezbooking",
) -> ProbePoint:
    detail = detail or {"available": "slots_seen", "unavailable": "no_slot_page"}.get(outcome, "")
    at = T0 + timedelta(hours=hours)
    return ProbePoint(
        probe_id=f"p{next(_ids)}",
        service=service,
        platform=platform,
        departement="63",
        at=at,
        outcome=outcome,
        detail=detail,
        first_slot=at + timedelta(days=3) if outcome == "available" else None,
    )


def feed(engine: Engine, points: list[ProbePoint]) -> list[Event]:
    return [e for p in points for e in engine.observe(p)]


def test_closed_needs_n_valid_probes_spanning_h_hours() -> None:
    engine = Engine(Rules(closed_probes=6, closed_hours=24))
    # six empty probes within 15 hours: not yet (span below 24 h)
    events = feed(engine, [point(3 * i, "unavailable") for i in range(6)])
    assert events == []
    # the run goes on past 24 hours: the seventh probe, 27 h after the first, opens it
    events = feed(engine, [point(27, "unavailable")])
    assert [(e.change, e.alert.kind, e.alert.cause) for e in events] == [
        ("opened", "closed", "no_slot")
    ]
    alert = events[0].alert
    assert alert.since == T0 and alert.opened_at == T0 + timedelta(hours=27)
    assert alert.figures["probes"] == 7 and alert.figures["hours"] == 27.0
    assert len(alert.opened_by) == 6 and alert.service == "63-clermont"
    # more empty probes: nothing new
    assert feed(engine, [point(30, "unavailable")]) == []


def test_barriers_neither_confirm_nor_break_a_closed_run() -> None:
    engine = Engine(Rules(closed_probes=3, closed_hours=6, blind_probes=10))
    events = feed(
        engine,
        [
            point(0, "unavailable"),
            point(2, "barrier", "captcha"),
            point(4, "unavailable"),
            point(5, "site_error", "http_502"),
        ],
    )
    assert events == []  # two valid probes only
    events = feed(engine, [point(7, "unavailable")])
    assert [e.alert.kind for e in events] == ["closed"]
    assert events[0].alert.figures["not_measured"] == 2
    assert events[0].alert.figures["probes"] == 3


def test_one_probe_with_a_date_breaks_the_run_and_reopens() -> None:
    engine = Engine(Rules(closed_probes=3, closed_hours=0))
    # one odd empty probe between dates pages no one
    assert (
        feed(engine, [point(0, "available"), point(1, "unavailable"), point(2, "available")]) == []
    )
    opened = feed(engine, [point(h, "unavailable") for h in (3, 4, 5)])
    assert [e.change for e in opened] == ["opened"]
    closed = feed(engine, [point(6, "barrier", "captcha"), point(7, "available")])
    assert [(e.change, e.alert.kind) for e in closed] == [("closed", "closed")]
    ended = closed[0].alert
    assert ended.closed_at == T0 + timedelta(hours=7)
    assert ended.last_seen == T0 + timedelta(hours=5)  # the last probe without a date
    assert closed[0].probe is not None and ended.closed_by == closed[0].probe.probe_id
    assert ended.figures["first_slot"] == (T0 + timedelta(hours=7, days=3)).isoformat()


def test_reopening_can_ask_for_several_probes_with_dates() -> None:
    engine = Engine(Rules(closed_probes=2, closed_hours=0, reopen_probes=2))
    feed(engine, [point(0, "unavailable"), point(1, "unavailable")])
    assert feed(engine, [point(2, "available"), point(3, "unavailable")]) == []
    assert [e.change for e in feed(engine, [point(4, "available"), point(5, "available")])] == [
        "closed"
    ]


def test_blind_one_alert_per_cause_closed_when_the_robot_reads_again() -> None:
    engine = Engine(Rules(blind_probes=3, closed_probes=100))
    events = feed(
        engine,
        [point(h, "barrier", "captcha") for h in (0, 1)]
        + [point(2, "site_error", "http_502"), point(3, "barrier", "captcha")]
        + [point(4, "site_error", "timeout"), point(5, "site_error", "overloaded")],
    )
    opened = [(e.alert.kind, e.alert.cause) for e in events]
    assert opened == [("blind", "captcha"), ("blind", "site_error")]
    site = events[1].alert
    assert site.figures["details"] == {"http_502": 1, "overloaded": 1, "timeout": 1}
    assert feed(engine, [point(6, "barrier", "captcha")]) == []  # already open
    closed = feed(engine, [point(7, "unavailable")])
    assert sorted((e.change, e.alert.cause) for e in closed) == [
        ("closed", "captcha"),
        ("closed", "site_error"),
    ]
    assert engine.open_alerts() == []


def test_two_blind_probes_page_no_one() -> None:
    engine = Engine(Rules(blind_probes=3))
    events = feed(
        engine,
        [
            point(0, "barrier", "blocked"),
            point(1, "barrier", "blocked"),
            point(2, "available"),
            point(3, "barrier", "blocked"),
            point(4, "barrier", "blocked"),
        ],
    )
    assert events == []


def test_cause_of_groups_site_errors_only() -> None:
    assert cause_of("site_error", "http_503") == "site_error"
    assert cause_of("barrier", "captcha") == "captcha"
    assert cause_of("unrecognized", "layout_changed") == "layout_changed"


def test_layout_changed_across_a_platform_is_one_alert_with_samples() -> None:
    engine = Engine(Rules(platform_services=3, platform_hours=6, blind_probes=99))
    events = feed(
        engine,
        [
            point(0, "unrecognized", "layout_changed", service="a"),
            point(1, "unrecognized", "unexpected_page", service="b"),
            point(2, "unrecognized", "layout_changed", service="x", platform="rdvpref"),
        ],
    )
    assert events == []  # two services of ezbooking, one of another platform
    events = feed(engine, [point(3, "unrecognized", "layout_changed", service="c")])
    assert [(e.change, e.alert.kind, e.alert.platform, e.alert.service) for e in events] == [
        ("opened", "layout_changed", "ezbooking", None)
    ]
    samples = events[0].alert.figures["samples"]
    assert [s["service"] for s in samples] == ["a", "b", "c"]
    assert all(s["probe_id"] for s in samples)
    # one service reads again: still open; all read again: closed
    assert feed(engine, [point(4, "available", service="a")]) == []
    feed(engine, [point(5, "unavailable", service="b")])
    closed = feed(engine, [point(6, "available", service="c")])
    assert [(e.change, e.alert.kind) for e in closed] == [("closed", "layout_changed")]


def test_unreadable_pages_far_apart_are_not_a_platform_change() -> None:
    engine = Engine(Rules(platform_services=2, platform_hours=6, blind_probes=99))
    events = feed(
        engine,
        [
            point(0, "unrecognized", "layout_changed", service="a"),
            point(10, "unrecognized", "layout_changed", service="b"),
        ],
    )
    assert events == []


def test_stalled_after_two_cadences_and_closed_by_the_next_probe() -> None:
    engine = Engine(Rules(stalled_cadences=2))
    feed(engine, [point(0, "available", service="s")])
    cadences = {"s": 3600, "never-probed": 3600}
    assert engine.check_stalled(T0 + timedelta(hours=1, minutes=59), cadences) == []
    events = engine.check_stalled(T0 + timedelta(hours=2), cadences)
    assert [(e.alert.kind, e.alert.service) for e in events] == [("stalled", "s")]
    assert engine.check_stalled(T0 + timedelta(hours=5), cadences) == []  # once
    closed = feed(engine, [point(6, "available", service="s")])
    assert [(e.change, e.alert.kind) for e in closed] == [("closed", "stalled")]


def test_stalled_from_the_store_when_the_engine_saw_nothing() -> None:
    engine = Engine()
    last = {"s": (T0, "63", "ezbooking")}
    events = engine.check_stalled(T0 + timedelta(hours=13), {"s": 6 * 3600}, last)
    assert [e.alert.figures["hours_without_probe"] for e in events] == [13.0]


def test_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="closed_probes"):
        Rules(closed_probes=0)


# -- with a store: the table, and a restart ---


def observation(hours: float, outcome: Outcome, service: str = "63-clermont") -> Observation:
    at = T0 + timedelta(hours=hours)
    slots = ((at + timedelta(days=2)).astimezone(PARIS),) if outcome is Outcome.AVAILABLE else ()
    return Observation(
        probe_id=f"o{next(_ids)}",
        service=service,
        platform="ezbooking",
        url="http://127.0.0.1/booking/create/1",
        started_at=at,
        finished_at=at + timedelta(seconds=5),
        outcome=outcome,
        detail={
            Outcome.AVAILABLE: "slots_seen",
            Outcome.UNAVAILABLE: "no_slot_page",
            Outcome.BARRIER: "captcha",
        }[outcome],
        slots=slots,
        departement="63",
    )


def test_a_restart_replays_without_opening_twice(tmp_path: Path) -> None:
    rules = Rules(closed_probes=3, closed_hours=4, blind_probes=2)
    history = [observation(h, Outcome.UNAVAILABLE) for h in range(6)]
    history += [observation(6, Outcome.AVAILABLE)]  # reopened
    history += [observation(h, Outcome.UNAVAILABLE) for h in range(7, 13)]  # closed again
    history += [observation(h, Outcome.BARRIER, "b") for h in (7, 8)]  # blind on another
    with Store.open(None, home=tmp_path) as store:
        first = Monitor(store, rules)
        for obs in sorted(history, key=lambda o: o.started_at):
            store.save(obs)
            first.observe(obs)
        stored = read_alerts(store)
        assert [(a.kind, a.service, a.open) for a in stored] == [
            ("closed", "63-clermont", False),
            ("blind", "b", True),
            ("closed", "63-clermont", True),
        ]
        # a restart: the same probes replayed, nothing new
        again = Monitor(store, rules)
        assert again.resume(T0 + timedelta(hours=14)) == []
        assert read_alerts(store) == stored
        # the restarted monitor goes on with the stored episodes: a date closes the open one
        late = observation(14, Outcome.AVAILABLE)
        store.save(late)
        events = again.observe(late)
        assert [(e.change, e.alert.id) for e in events] == [("closed", stored[2].id)]
        assert [a.open for a in read_alerts(store, service="63-clermont")] == [False, False]


def test_a_probe_stored_without_its_alert_is_caught_up(tmp_path: Path) -> None:
    """The run died between storing a probe and recording its alert: the replay adds it, and
    says it (still open: news)."""
    rules = Rules(closed_probes=3, closed_hours=2)
    with Store.open(None, home=tmp_path) as store:
        for h in range(4):
            store.save(observation(h, Outcome.UNAVAILABLE))
        assert read_alerts(store) == []
        heard: list[Event] = []
        monitor = Monitor(store, rules, notify=heard.append)
        news = monitor.resume(T0 + timedelta(hours=5))
        assert [(e.change, e.alert.kind) for e in news] == [("opened", "closed")]
        assert heard == news
        assert [a.kind for a in read_alerts(store, open_only=True)] == ["closed"]


def test_an_alert_whose_message_could_not_be_queued_is_told_at_the_next_start(
    tmp_path: Path,
) -> None:
    """The outbox's write fails (its database went away, or the run was killed) as an alert
    opens: the alert is not stored either, so the next start catches it up and tells it. Stored
    without its message, it would be known at the next start and never told."""
    rules = Rules(closed_probes=3, closed_hours=2)

    def outbox_down(event: Event) -> None:
        raise RuntimeError("the outbox's database went away")

    with Store.open(None, home=tmp_path) as store:
        failing = Monitor(store, rules, notify=outbox_down)
        for h in range(4):
            obs = observation(h, Outcome.UNAVAILABLE)
            store.save(obs)
            with contextlib.suppress(RuntimeError):
                failing.observe(obs)
        heard: list[Event] = []
        Monitor(store, rules, notify=heard.append).resume(T0 + timedelta(hours=5))
        assert [(e.change, e.alert.kind) for e in heard] == [("opened", "closed")]
        assert [a.kind for a in read_alerts(store, open_only=True)] == ["closed"]


def test_a_daily_digest_at_its_paris_hour_with_what_is_open_and_what_changed(
    tmp_path: Path,
) -> None:
    from datetime import time

    from guichets.alerts.messages import Names, digest_message
    from guichets.alerts.monitor import Digest

    digests: list[Digest] = []
    rules = Rules(closed_probes=3, closed_hours=6)
    with Store.open(None, home=tmp_path) as store:
        monitor = Monitor(store, rules, digest_at=time(8, 0), on_digest=digests.append)
        monitor.resume(T0 - timedelta(minutes=1))  # 09:59 Paris: the first digest is tomorrow
        for hours in range(0, 51, 3):  # two days of a closed counter, every 3 hours
            obs = observation(hours, Outcome.UNAVAILABLE)
            store.save(obs)
            monitor.observe(obs)
    # 8:00 Paris = 6:00 UTC: due on 6 and 7 October; sent with the first probe after each
    assert [d.at for d in digests] == [
        datetime(2026, 10, 6, 6, 0, tzinfo=UTC),
        datetime(2026, 10, 7, 6, 0, tzinfo=UTC),
    ]
    first, second = digests
    assert [(e.change, e.alert.kind) for e in first.events] == [("opened", "closed")]
    assert [a.kind for a in first.open] == ["closed"] and second.events == []
    text = digest_message(first, Names({"63-clermont": "Clermont <b>"}))
    assert text.title == "Résumé des alertes du 6 octobre 2026"
    assert "1 alertes en cours" in text.body and "1 ouvertes et 0 closes" in text.body
    assert "- Guichet fermé : Clermont <b> (63-clermont), depuis le 5 octobre 2026" in text.body


def test_a_restart_with_other_thresholds_keeps_the_open_episode(tmp_path: Path) -> None:
    """The stored open alert goes on (no second one opened by the new thresholds), an earlier
    probe with a date in the replay does not close it, a later one does."""
    with Store.open(None, home=tmp_path) as store:
        first = Monitor(store, Rules(closed_probes=3, closed_hours=2))
        for obs in [observation(0, Outcome.AVAILABLE)] + [
            observation(h, Outcome.UNAVAILABLE) for h in range(1, 9)
        ]:
            store.save(obs)
            first.observe(obs)
        (stored,) = read_alerts(store)
        assert stored.open and stored.opened_at == T0 + timedelta(hours=3)
        again = Monitor(store, Rules(closed_probes=5, closed_hours=2))
        assert again.resume(T0 + timedelta(hours=10)) == []
        assert read_alerts(store) == [stored]
        late = observation(10, Outcome.AVAILABLE)
        store.save(late)
        assert [(e.change, e.alert.id) for e in again.observe(late)] == [("closed", stored.id)]


def test_an_episode_cut_by_the_replay_window_is_not_opened_twice(tmp_path: Path) -> None:
    """Opened before the window, closed within it: replayed from the window's start, its run of
    probes would open a second episode."""
    rules = Rules(closed_probes=3, closed_hours=2)
    with Store.open(None, home=tmp_path) as store:
        first = Monitor(store, rules)
        history = [observation(h, Outcome.UNAVAILABLE) for h in range(0, 40, 2)]
        for obs in [*history, observation(40, Outcome.AVAILABLE)]:
            store.save(obs)
            first.observe(obs)
        stored = read_alerts(store)
        assert [(a.kind, a.open) for a in stored] == [("closed", False)]
        again = Monitor(store, rules)
        assert again.resume(T0 + timedelta(hours=41), days=1) == []  # the window starts at 17 h
        assert read_alerts(store) == stored
        later = [observation(h, Outcome.UNAVAILABLE) for h in (42, 44, 46, 48)]
        events = []
        for obs in later:
            store.save(obs)
            events += again.observe(obs)
        assert [(e.change, e.alert.kind) for e in events] == [("opened", "closed")]  # a new one
