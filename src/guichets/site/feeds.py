"""Atom feeds: France and each département, alerts opened and closed and the monthly summary.

Journalists and associations follow a département by feed, not by visiting the site. The feeds
are written by feedgen (Atom 1.0, XML escaped by lxml) into ``flux/``; every page that has one
links it with ``<link rel="alternate" type="application/atom+xml">``. Entry ids are derived from
the alert's id (or the month), so a reader never sees an entry twice, and every date comes from
the data, so an unchanged feed is rewritten byte for byte the same (and not written at all).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from guichets.site.alerttext import summary_line
from guichets.store.alerts import AlertRecord

__all__ = ["FEED_DIR", "FeedEntry", "alert_entries", "atom", "feed_path", "xml_text"]

FEED_DIR: Final = "flux"
MAX_ENTRIES: Final = 200  # a feed holds the latest; older ones are on the site's pages
NAMESPACE: Final = uuid.UUID("5b0e4f4e-7f2c-4c8e-9a52-6775696368e7")  # this site's entry ids
EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)  # an empty feed's date


def feed_path(scope: str) -> str:
    """``flux/france.atom``, ``flux/38.atom``: where a scope's feed lives in the site."""
    return f"{FEED_DIR}/{scope.lower()}.atom"


def xml_text(text: str, limit: int = 4000) -> str:
    """Text XML can hold: characters XML 1.0 refuses (controls, surrogates) removed, bounded."""
    kept = "".join(
        c
        for c in text
        if c in "\t\n\r"
        or ("\x20" <= c <= "\ud7ff")
        or ("\ue000" <= c <= "\ufffd")
        or ("\U00010000" <= c <= "\U0010ffff")
    )
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


@dataclass(frozen=True)
class FeedEntry:
    key: str  # stable: gives the entry's id
    title: str
    text: str
    link: str  # relative to the site's root
    at: datetime


def alert_entries(
    alerts: Iterable[AlertRecord],
    label: Callable[[AlertRecord], str],
    link: Callable[[AlertRecord], str],
    describe: Callable[[AlertRecord, str], str],
) -> list[FeedEntry]:
    """An entry for each alert opened, and one for each alert closed."""
    entries = []
    for alert in alerts:
        entries.append(
            FeedEntry(
                key=f"alert:{alert.id}:opened",
                title=summary_line(alert, "opened", label(alert)),
                text=describe(alert, "opened"),
                link=link(alert),
                at=alert.opened_at,
            )
        )
        if alert.closed_at is not None:
            entries.append(
                FeedEntry(
                    key=f"alert:{alert.id}:closed",
                    title=summary_line(alert, "closed", label(alert)),
                    text=describe(alert, "closed"),
                    link=link(alert),
                    at=alert.closed_at,
                )
            )
    return entries


def _absolute(base: str | None, path: str, depth: str) -> str:
    """A link from the feed (in ``flux/``): absolute with the site's address, else relative."""
    return base.rstrip("/") + "/" + path if base else depth + path


def atom(
    *,
    scope: str,
    title: str,
    subtitle: str,
    page: str,
    entries: Sequence[FeedEntry],
    site_url: str | None = None,
) -> bytes:
    """The Atom document of one feed (``page``: the site page it stands for, from the root)."""
    from feedgen.feed import FeedGenerator  # lxml: loaded when a site is built, not before

    latest = sorted(entries, key=lambda e: (e.at, e.key), reverse=True)[:MAX_ENTRIES]
    fg = FeedGenerator()
    fg.id(f"urn:uuid:{uuid.uuid5(NAMESPACE, f'feed:{scope}')}")
    fg.title(xml_text(title, 200))
    fg.subtitle(xml_text(subtitle, 500))
    fg.author({"name": "Guichets fermés ?"})
    fg.language("fr")
    fg.link(href=_absolute(site_url, feed_path(scope), "../"), rel="self")
    fg.link(href=_absolute(site_url, page, "../"), rel="alternate", type="text/html")
    fg.updated(latest[0].at if latest else EPOCH)
    for item in reversed(latest):  # feedgen prepends: the newest ends first
        fe = fg.add_entry()
        fe.id(f"urn:uuid:{uuid.uuid5(NAMESPACE, item.key)}")
        fe.title(xml_text(item.title, 300))
        fe.updated(item.at)
        fe.published(item.at)
        fe.link(href=_absolute(site_url, item.link, "../"), rel="alternate", type="text/html")
        fe.content(xml_text(item.text), type="text")
    data: bytes = fg.atom_str(pretty=True)
    return data
