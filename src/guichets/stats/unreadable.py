"""The pages the robot could not read, grouped so that a maintainer can fix a reader the day a
site changes.

An ``unrecognized`` probe keeps its page. Grouped by platform, the reader's reason (``detail``)
and the page's **shape** — a short fingerprint of its structure: the sequence of its elements'
tags, ids and classes, digits and texts left out — a hundred probes of one changed layout make one
line, and a new layout makes a new line the day it appears. Each group names its probes and the
command that renders an archived page (``guichets evidence screenshot PROBE_ID``).

Pure: observations and kept pages in, groups out; the CLI reads the store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from guichets.model import Observation, Outcome

__all__ = ["SHOWN_PROBES", "UnreadableGroup", "page_shape", "unreadable_groups", "unreadable_share"]

SHOWN_PROBES = 5  # probe ids listed per group; the count says how many there are
_DIGITS = re.compile(r"\d+")
_MAX_ELEMENTS = 4000  # a page's shape is read from its first elements: bounded work per page


def page_shape(page: bytes | None) -> tuple[str, str]:
    """A short fingerprint of a page's structure and a hint a person can read (its distinctive
    ids, e.g. ``form#FormBookingCreate``): ``("no-page", "")`` without a kept page."""
    if not page:
        return "no-page", ""
    tree = LexborHTMLParser(page[:2_000_000].decode("utf-8", errors="replace"))
    root = tree.body or tree.root
    if root is None:
        return "empty", ""
    parts: list[str] = []
    hints: list[str] = []
    for count, node in enumerate(root.traverse(include_text=False)):
        if count >= _MAX_ELEMENTS:
            break
        tag = node.tag or ""
        if tag in ("script", "style", "svg", "path", "br", "-text", "_comment"):
            continue
        ident = _DIGITS.sub("0", node.attributes.get("id") or "")
        classes = sorted(_DIGITS.sub("0", c) for c in (node.attributes.get("class") or "").split())
        name = tag + (f"#{ident}" if ident else "") + "".join(f".{c}" for c in classes)
        if not parts or parts[-1] != name:  # a list of ten rows has the shape of a list
            parts.append(name)
        if ident and tag in ("form", "table", "section", "main", "fieldset") and len(hints) < 3:
            hints.append(f"{tag}#{ident}")
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]
    return digest, " ".join(hints)


@dataclass
class UnreadableGroup:
    """Unreadable probes of one platform, one reason and one page shape."""

    platform: str
    detail: str
    shape: str
    hint: str
    count: int = 0
    services: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    probes: list[str] = field(default_factory=list)  # the latest, at most SHOWN_PROBES
    message: str = ""  # the reader's words on the latest probe
    url: str = ""  # the page kept with the latest probe

    def add(self, obs: Observation) -> None:
        self.count += 1
        self.services.add(obs.service)
        self.first = obs.started_at if self.first is None else min(self.first, obs.started_at)
        if self.last is None or obs.started_at >= self.last:
            self.last = obs.started_at
            self.message = obs.message
            self.url = obs.kept_url or obs.url
        self.probes.append(obs.probe_id)
        del self.probes[:-SHOWN_PROBES]

    def as_json(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "detail": self.detail,
            "shape": self.shape,
            "hint": self.hint,
            "count": self.count,
            "services": sorted(self.services),
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
            "probes": list(self.probes),
            "commands": [f"guichets evidence screenshot {p}" for p in self.probes],
            "message": self.message,
            "url": self.url,
        }


def unreadable_groups(
    observations: Iterable[Observation], kept_page: Callable[[str], bytes | None]
) -> list[UnreadableGroup]:
    """Unrecognized probes grouped by platform, reason and page shape, the largest first."""
    groups: dict[tuple[str, str, str], UnreadableGroup] = {}
    shapes: dict[str, tuple[str, str]] = {}  # by kept URL and body digest: pages repeat
    for obs in observations:
        if obs.outcome is not Outcome.UNRECOGNIZED:
            continue
        page = kept_page(obs.probe_id)
        key = hashlib.sha256(page).hexdigest() if page else "none"
        if key not in shapes:
            shapes[key] = page_shape(page)
        shape, hint = shapes[key]
        group = groups.setdefault(
            (obs.platform, obs.detail, shape),
            UnreadableGroup(obs.platform, obs.detail, shape, hint),
        )
        group.add(obs)
    return sorted(groups.values(), key=lambda g: (-g.count, g.platform, g.detail, g.shape))


def unreadable_share(observations: Iterable[Observation]) -> dict[str, tuple[int, int]]:
    """Per platform: (unrecognized probes, all probes)."""
    counts: dict[str, list[int]] = {}
    for obs in observations:
        pair = counts.setdefault(obs.platform, [0, 0])
        pair[1] += 1
        if obs.outcome is Outcome.UNRECOGNIZED:
            pair[0] += 1
    return {platform: (n, total) for platform, (n, total) in sorted(counts.items())}
