"""Unreadable pages grouped by their shape: texts and numbers do not make a new group, a new
structure does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guichets.model import Observation, Outcome
from guichets.stats.unreadable import page_shape, unreadable_groups, unreadable_share

V2 = (
    '<html><body><section class="rdv-v2"><form id="rdv-demarche" method="post"><h2>{title}</h2>'
    '<label><input type="checkbox" name="accept_cgu" value="1" /> J\'accepte</label>'
    '<button type="submit" class="rdv-suivant">Continuer</button></form></section>'
    "<ul>{items}</ul></body></html>"
)


def _page(title: str, n: int) -> bytes:
    return V2.format(
        title=title, items="".join(f"<li id='s{i}'>{i}</li>" for i in range(n))
    ).encode()


def test_the_shape_ignores_texts_numbers_and_repetition() -> None:
    one, hint = page_shape(_page("Titre de séjour", 3))
    assert one == page_shape(_page("Naturalisation 2026", 12))[0]
    assert len(one) == 10 and hint == "form#rdv-demarche"
    other = page_shape(b'<html><body><form id="FormBookingCreate"><p>x</p></form></body></html>')
    assert other[0] != one and other[1] == "form#FormBookingCreate"
    assert page_shape(None) == ("no-page", "")


def _obs(n: int, outcome: Outcome, detail: str, platform: str = "ezbooking") -> Observation:
    at = datetime(2026, 10, 5, tzinfo=UTC) + timedelta(hours=n)
    return Observation(
        probe_id=f"p{n}", service=f"s{n % 2}", platform=platform, url="https://x/booking/create/1",
        started_at=at, finished_at=at, outcome=outcome, detail=detail, message=f"m{n}",
    )  # fmt: skip


def test_groups_by_platform_reason_and_shape_largest_first() -> None:
    observations = [_obs(n, Outcome.UNRECOGNIZED, "layout_changed") for n in range(7)]
    observations += [_obs(10, Outcome.UNRECOGNIZED, "unreadable_grid")]
    observations += [_obs(11, Outcome.SITE_ERROR, "http_502")]
    pages = {f"p{n}": _page("T", n + 1) for n in range(7)} | {"p10": b"<table><tr><td>1</td></tr>"}
    groups = unreadable_groups(observations, pages.get)
    assert [(g.detail, g.count) for g in groups] == [("layout_changed", 7), ("unreadable_grid", 1)]
    first = groups[0].as_json()
    assert first["probes"] == ["p2", "p3", "p4", "p5", "p6"] and first["services"] == ["s0", "s1"]
    assert first["commands"][-1] == "guichets evidence screenshot p6" and first["message"] == "m6"
    assert unreadable_share(observations) == {"ezbooking": (8, 9)}
