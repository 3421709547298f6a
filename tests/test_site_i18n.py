"""The site's messages as the templates read them (``i18n.words``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jinja2
import pytest
from markupsafe import escape

from guichets.model import PARIS
from guichets.site import i18n
from guichets.site.build import _environment


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_words_are_every_message_escaped_once(lang: str) -> None:
    t = i18n.words(lang)
    for key in i18n.MESSAGES:
        assert getattr(t, key) == escape(i18n.message(key, lang))
    template = _environment().from_string("{{ t.feed_link }}|{{ t.nav_home }}")
    # Printed through autoescape, the same bytes as the message escaped once: never twice.
    expected = f"{escape(i18n.message('feed_link', lang))}|{escape(i18n.message('nav_home', lang))}"
    assert template.render(t=t) == expected


def test_a_message_that_does_not_exist_fails_the_page() -> None:
    template = _environment().from_string("{{ t.no_such_message }}")
    with pytest.raises(jinja2.UndefinedError):
        template.render(t=i18n.words("fr"))


def test_instants_in_paris_time_across_the_clock_change() -> None:
    start = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    for step in range(0, 60 * 30, 7):
        at = start + timedelta(minutes=step)
        local = at.astimezone(PARIS)
        assert i18n.fmt_instant(at, "fr").endswith(f" à {local:%H} h {local:%M}")
        assert i18n.fmt_instant(at, "en") == (
            f"{local.day} {i18n.MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"
        )
