"""Hostile archived pages before the screenshot renderer: a page's CSS cannot hide or replace the
evidence banner, a ``<meta http-equiv=refresh>`` neither crashes the render nor takes the page
elsewhere. Real headless Chromium (Debian's), pages built as archived records."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from guichets.evidence.screenshot import Archived, ArchivedProbe, Renderer
from guichets.evidence.warc import ReadRecord
from guichets.store import EvidenceRecord

pytestmark = pytest.mark.browser

URL = "http://127.0.0.1:9/booking/create/4129/2"
BANNER = (255, 244, 194)  # the banner's background, #fff4c2
RULE = (187, 0, 0)  # the banner's bottom border, #b00: the page above it is ours

FORGERY = """<!doctype html><html><head><style>
#guichets-evidence-banner, div[id^=guichets] { display: none !important; }
html, body { margin: 0; background: #fff4c2; }
body::before { content: "URL : http://elsewhere.example/ — résultat : available";
  display: block; background: #fff4c2; font: 13px sans-serif; padding: 8px; }
</style></head><body><p>Il n'existe plus de plage horaire libre.</p></body></html>"""
REFRESH = """<!doctype html><html><head>
<meta http-equiv="refresh" content="0;url=http://127.0.0.2:9/elsewhere">
</head><body><p>Page avec rafraîchissement</p>
<iframe src="http://127.0.0.3:9/frame"></iframe></body></html>"""


def _probe(body: str) -> ArchivedProbe:
    at = datetime(2026, 10, 5, 7, 30, tzinfo=UTC)
    row = EvidenceRecord(
        record_id="<urn:uuid:1>", probe_id="p1", ordinal=1, kind="response", uri=URL,
        status=200, sha256="ab" * 32, file="f.warc.gz", position=0, size=1,
    )  # fmt: skip
    record = ReadRecord(
        kind="response", uri=URL, date=at.isoformat(), fields={}, status=200,
        http_headers=(("Content-Type", "text/html; charset=utf-8"),), body=body.encode(),
    )  # fmt: skip
    page = Archived(row, record, at)
    return ArchivedProbe(
        probe_id="p1", service="38-grenoble-renouvellement", outcome="unavailable",
        detail="no_slot_page", page=page, responses=(page,), failure="", entry=None,
    )  # fmt: skip


async def _render(body: str) -> tuple[Image.Image, str, int]:
    async with Renderer() as renderer:
        png = await renderer.render(_probe(body))
        return Image.open(io.BytesIO(png)).convert("RGB"), renderer.text, len(renderer.blocked)


def test_the_page_css_cannot_hide_or_replace_the_banner() -> None:
    """A page that hides every element with the banner's id and draws a false banner: the real
    banner is at the top of the picture, with the archived URL, and the forged one below it."""
    image, text, _ = asyncio.run(_render(FORGERY))
    assert image.getpixel((3, 3)) == BANNER
    middle = image.width // 2
    rule = [y for y in range(min(300, image.height)) if image.getpixel((middle, y)) == RULE]
    assert rule, "no banner rule at the top of the picture"
    assert image.height > rule[-1] + 10  # the page follows, below our banner
    assert text.startswith("Page archivée par guichets")
    assert f"URL : {URL}" in text.splitlines()[1]
    assert "elsewhere.example" not in text.split("\n\n")[0].splitlines()[1]


def test_a_meta_refresh_page_renders_where_it_is() -> None:
    """A refresh to another address and a frame: the render ends (no "execution context was
    destroyed"), the page's own text is there, and the navigations refused are counted."""
    image, text, blocked = asyncio.run(_render(REFRESH))
    assert "Page avec rafraîchissement" in text
    assert blocked >= 1 and "navigation(s)" in text
    assert image.height > 100
