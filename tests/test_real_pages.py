"""Every page of the real-page corpus (tests/fixtures/real/) read by its platform's reader.

Each page plays its part in a person's path, the other steps being the plainest pages of the
platform; the reader must then do what the sidecar says a person does on that page: send the same
fields, or record the same outcome and slots. The expected answers were written by hand from the
pages. A page the reader cannot read yet says why in its sidecar (``not_yet``): it runs as a strict
expected failure, so that the day the reader learns it, the test says so.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from guichets.platforms import reader_for
from guichets.platforms.base import Reading
from tests.pagesession import PageSession, page, read, redirect

CORPUS = Path(__file__).parent / "fixtures" / "real"
DEFAULT_NOW = datetime.fromisoformat("2026-10-07T10:00:00+02:00")
NO_SLOT = (
    '<form id="FormBookingCreate" method="post">Il n\'existe plus de plage horaire libre pour '
    "votre demande de rendez-vous. Veuillez recommencer ultérieurement.</form>"
)
CONDITIONS = (
    '<form id="FormBookingCreate" method="post"><input type="checkbox" name="condition" '
    'id="condition" /><label for="condition">Veuillez cocher la case pour accepter les '
    "conditions d'utilisation</label>"
    '<input type="submit" name="nextButton" value="Effectuer une demande de rendez-vous" /></form>'
)


def _pages() -> list[Any]:
    found = []
    for sidecar in sorted(CORPUS.glob("*/*.json")):
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        marks = []
        if meta.get("not_yet"):
            marks.append(pytest.mark.xfail(strict=True, reason=meta["not_yet"]))
        found.append(pytest.param(sidecar, meta, id=f"{sidecar.parent.name}/{sidecar.stem}",
                                  marks=marks))  # fmt: skip
    return found


def test_every_page_has_its_sidecar_and_source() -> None:
    pages = sorted(CORPUS.glob("*/*.html"))
    assert pages, "the corpus is empty"
    for html_file in pages:
        sidecar = html_file.with_suffix(".json")
        assert sidecar.exists(), f"{html_file} has no sidecar"
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        assert meta["page"] == html_file.name and meta["platform"] == html_file.parent.name
        assert meta["kind"] in ("saved", "quoted") and meta["person_sees"]
        assert meta["sources"] and all(s.get("quotes") for s in meta["sources"])
        for source in meta["sources"]:
            assert source["repository"] or source.get("found_by"), source
            if source["repository"]:
                assert len(source["commit"]) == 40 and source["path"] and source["date"]
        assert meta["expected"]


def _legacy(meta: dict[str, Any], body: str) -> tuple[PageSession, str]:
    parts = urlsplit(meta["url"])
    host = f"{parts.scheme}://{parts.netloc}"
    path = parts.path
    create = path.rsplit("/", 1)[0] if path.rstrip("/").split("/")[-1].isdigit() else path
    role = meta["role"]
    if role == "grid":
        create = path.split("/ezjscore/")[0] + "/booking/create/" + path.split("::")[3]
    routes = {
        ("GET", f"{create}/2"): page(NO_SLOT),
        ("GET", f"{create}/0"): page(CONDITIONS),
        ("POST", f"{create}/0"): redirect(f"{create}/2"),
    }
    if role == "conditions":
        routes[("GET", path)] = page(body)
        routes[("POST", path)] = redirect(f"{create}/2")
        return PageSession(host, routes), host + path
    if role == "counters":
        routes[("POST", f"{create}/0")] = redirect(path)
        routes[("GET", path)] = page(body)
        routes[("POST", path)] = redirect(f"{create}/2")
    elif role == "no_slot":
        routes[("GET", path)] = page(body)
    elif role == "grid":
        assign = path.rsplit("::", 1)[0] + "::"
        offset = path.rsplit("::", 1)[1]
        dates = (
            '<img src="/etape_4r.png" /><form id="FormBookingCreate" method="post"></form>'
            f"<script>var url = '{assign}{offset}';</script>"
        )
        counters = (
            '<form id="FormBookingCreate" method="post"><input type="radio" name="planning" '
            f'value="{meta["planning"]}" /><input type="submit" name="nextButton" '
            'value="Etape suivante" /></form>'
        )
        routes[("POST", f"{create}/0")] = redirect(f"{create}/1")
        routes[("GET", f"{create}/1")] = page(counters)
        routes[("POST", f"{create}/1")] = redirect(f"{create}/4")
        routes[("GET", f"{create}/4")] = page(dates)
        routes[("GET", path)] = page(body)
    return PageSession(host, routes), f"{host}{create}/0"


def _rdvpref(meta: dict[str, Any], body: str) -> tuple[PageSession, str]:
    parts = urlsplit(meta["url"])
    host = f"{parts.scheme}://{parts.netloc}"
    base = parts.path.rsplit("/", 2)[0]
    landing = page(f'<a href="{base}/cgu/">Prendre rendez-vous</a>')
    cgu = (
        f'<form method="post" action="{base}/_validerCaptcha"><input type="hidden" name="CTX" '
        'value="1" /><button type="submit">Suivant</button></form>'
    )
    routes = {
        ("GET", f"{base}/"): landing,
        ("GET", f"{base}/cgu/"): page(cgu),
        ("POST", f"{base}/_validerCaptcha"): redirect(f"{base}/creneau/"),
    }
    routes[("GET", parts.path)] = page(body)
    return PageSession(host, routes), f"{host}{base}/"


def _eappointment(meta: dict[str, Any], body: str) -> tuple[PageSession, str]:
    parts = urlsplit(meta["url"])
    host = f"{parts.scheme}://{parts.netloc}"
    office = (
        f'<form method="post" action="{parts.path}"><input type="hidden" name="sitekey" '
        'value="P941" /><input type="checkbox" name="selectedMotiveKeyList" value="20" />'
        '<input type="button" id="nextButtonId" value="Suivant" /></form>'
    )
    routes = {("GET", parts.path): page(office), ("POST", parts.path): page(body)}
    return PageSession(host, routes), f"{host}{parts.path}?sitekey=P941#motif=20"


@pytest.mark.parametrize(("sidecar", "meta"), _pages())
def test_the_reader_reads_the_real_page_as_a_person(sidecar: Path, meta: dict[str, Any]) -> None:
    body = sidecar.with_suffix(".html").read_text(encoding="utf-8")
    platform = meta["platform"]
    build = {"ezbooking": _legacy, "rdvpref": _rdvpref, "eappointment": _eappointment}[platform]
    site, url = build(meta, body)
    now = datetime.fromisoformat(meta["now"]) if "now" in meta else DEFAULT_NOW
    reading: Reading = asyncio.run(read(reader_for(platform), site, url, now))
    expected = meta["expected"]
    if "sends" in expected:
        page_path = urlsplit(meta["url"]).path
        posted = [
            f for method, u, f in site.sent if method == "POST" and urlsplit(u).path == page_path
        ]
        assert posted, reading.message
        assert expected["sends"].items() <= posted[0].items(), posted[0]
        return
    assert (reading.outcome, reading.detail) == (expected["outcome"], expected["detail"]), (
        reading.message
    )
    assert [s.isoformat() for s in reading.slots] == expected["slots"]
