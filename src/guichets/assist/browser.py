"""The person's browser: Playwright driving Debian's Chromium through an assisted attempt.

A captcha validated in one browser does not validate another's session, so the session that the
person's answer opens must be the one that reads the slots. guichets therefore holds the browser
(one Chromium, one context per attempt), shows the person the captcha it received, types the
person's answer into the site's own field, and reads the slot page in that same context.

**Playwright routing, not HAR.** Every request of the page goes through :meth:`Attempt.route`:
it is checked before it is sent (the platform's guard, the truth endpoint, personal data, and a
captcha answer only once per answer the person typed), fetched by Playwright with the context's
cookies (``route.fetch``), recorded as a :class:`guichets.http.Exchange`, and only then given to
the page. A HAR would be written when the context closes (a kill loses it) and could not refuse a
request before it leaves; routing records as it goes and guards every hop, redirects included.
The reads go through :class:`BrowserSession`, the robot's session interface over the context's
request client, so the robot's own reader reads the page with the robot's rules.

Captcha images and sounds are never recorded: their exchange becomes a metadata record saying
what was withheld (size, SHA-256), and their bytes live in memory until the person answered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from guichets.clock import Clock
from guichets.http import (
    Exchange,
    FetchError,
    ForbiddenRequest,
    Guard,
    HostGates,
    PoliteSession,
    Response,
    refuse_truth,
)
from guichets.http.personal import is_personal  # the robot's own list of fields
from guichets.http.session import absolute_url  # the robot's own URL check
from guichets.model import Detail, Step

__all__ = [
    "ANSWER_FIELDS",
    "WIDGETS",
    "BrowserSession",
    "PageRecorder",
    "Widget",
    "captcha_media",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FORM = "application/x-www-form-urlencoded"
_DROP = frozenset({"content-encoding", "transfer-encoding"})  # Playwright hands bodies decoded
MAX_BYTES = 5_000_000
TIMEOUT_MS = 20_000
MAX_REFUSALS_KEPT = 20  # per attempt: the first refused requests, each told in one line
MAX_REFUSAL_CHARS = 300
# The fields that carry a captcha answer on the platforms served; the robot never sends them, the
# person's browser sends each answer the person typed once.
ANSWER_FIELDS = ("captchaUsercode", "captcha", "captchacode")
_CAPTCHA_FIELD_PREFIXES = ("captcha", "bdc_")


@dataclass(frozen=True)
class Widget:
    """Where a captcha's parts are on a page: image, sound link, answer field, the button."""

    kind: str
    image: str
    field: str
    submit: str
    sound: str | None = None


WIDGETS = (
    Widget(
        "captchetat",
        image="img.BDC_CaptchaImage",
        field="#captchaFormulaireExtInput",
        submit="button[formaction$='_validerCaptcha']",
        sound="a.BDC_SoundLink",
    ),
    Widget(
        "controle",
        image="#captcha_image",
        field="input[name=captcha]",
        submit="form#FormBookingCreate input[name=nextButton]",
    ),
    Widget(
        "ppolice",
        image="#captchaimg",
        field="input[name=captchacode]",
        submit="form#FormBookingCreate input[name=nextButton]",
    ),
)


def captcha_media(url: str, content_type: str) -> bool:
    """An image or a sound of a captcha: withheld from the record, shown to the person only."""
    media = content_type.split(";", 1)[0].strip().lower()
    return "captcha" in url.lower() and media.startswith(("image/", "audio/"))


def redact_answers(body: bytes) -> bytes:
    """The request body as archived: a captcha answer's characters become ``*`` (its length
    kept), so that the archive never holds what a captcha said, as it never holds its image."""
    if not body or not any(name.encode() + b"=" in body for name in ANSWER_FIELDS):
        return body
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    hidden = [(n, "*" * len(v) if n in ANSWER_FIELDS else v) for n, v in pairs]
    return urlencode(hidden).encode("ascii")


def form_fields(body: bytes | None, content_type: str) -> dict[str, str]:
    if not body or not content_type.lower().startswith(_FORM):
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


class PageRecorder:
    """Guards, fetches and records every request of an attempt's page (Playwright routing)."""

    def __init__(
        self,
        guard: Guard,
        clock: Clock,
        on_exchange: Callable[[Exchange], None],
    ) -> None:
        self.guard = guard
        self.clock = clock
        self.on_exchange = on_exchange
        self.media: dict[str, bytes] = {}  # captcha images and sounds by URL, in memory only
        # What the page asked and guichets did not send (booking steps, personal data, another
        # answer than the person's): kept for the attempt's evidence, the first ones only, all
        # counted, the query left out (it may hold what was refused).
        self.refused: list[str] = []
        self.refused_total = 0
        # What the person's keys left in the site's field, set just before the site's button is
        # pressed and spent by the one request that carries it: no other answer, and none twice.
        self.typed: str | None = None
        self.trail: list[Step] = []

    def check(self, method: str, url: URL, fields: Mapping[str, str]) -> None:
        """The assisted rules, then the platform's guard with the captcha's own fields aside."""
        refuse_truth(url)
        answer = [n for n in fields if n in ANSWER_FIELDS and fields[n].strip()]
        if answer:
            typed, self.typed = self.typed, None
            if typed is None or any(fields[n].strip() != typed.strip() for n in answer):
                raise ForbiddenRequest(
                    f"a captcha answer that the person did not just type ({answer[0]}): {url}"
                )
        rest = {}
        for name, value in fields.items():
            if name.lower().startswith(_CAPTCHA_FIELD_PREFIXES):
                continue  # the captcha's own fields, on a page the person answers
            if is_personal(name):
                raise ForbiddenRequest(f"refused to send the personal-data field {name!r}: {url}")
            rest[name] = value
        if "simple-captcha-endpoint" in url.path:
            if url.query.get("get") not in ("html", "image", "sound", "script-include"):
                raise ForbiddenRequest(f"only the person's eyes check a captcha: {url}")
            return
        self.guard(method, url, rest)

    async def route(self, route: Any) -> None:
        """Playwright's route handler for every request of the page."""
        request = route.request
        url = URL(request.url)
        if url.scheme not in ("http", "https"):
            await route.continue_()  # data: URLs and the like never reach a network
            return
        body: bytes | None = request.post_data_buffer
        headers = await request.all_headers()
        fields = form_fields(body, headers.get("content-type", ""))
        fields.update(dict(url.query))
        try:
            self.check(request.method, url, fields)
        except ForbiddenRequest as refusal:
            self._refuse(request.method, url, refusal)
            await route.abort("blockedbyclient")
            return
        started, wall = self.clock.now(), time.perf_counter()
        try:
            response = await route.fetch(max_redirects=0, timeout=TIMEOUT_MS)
            raw: bytes = await response.body()
        except Exception as error:  # the site did not answer: say so, and the page fails
            self._record(request.method, url, headers, body, None, started, wall, error=error)
            await route.abort("failed")
            return
        if len(raw) > MAX_BYTES:
            self._record(request.method, url, headers, body, None, started, wall, error="large")
            await route.abort("failed")
            return
        pairs = [(h["name"], h["value"]) for h in response.headers_array]
        kind = next((v for n, v in pairs if n.lower() == "content-type"), "")
        withheld = captcha_media(request.url, kind)
        if withheld:
            self.media[request.url] = raw
        self._record(
            request.method, url, headers, body, (response.status, response.status_text, pairs, raw),
            started, wall, withheld=withheld,
        )  # fmt: skip
        await route.fulfill(response=response, body=raw)

    def _refuse(self, method: str, url: URL, refusal: ForbiddenRequest) -> None:
        self.refused_total += 1
        if len(self.refused) < MAX_REFUSALS_KEPT:
            bare = str(url.with_query(None).with_fragment(None))
            why = str(refusal).replace(str(url), bare)
            at = self.clock.now().isoformat(timespec="seconds")
            self.refused.append(f"{at} {method} {bare}: {why}"[:MAX_REFUSAL_CHARS])

    def _record(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        got: tuple[int, str, list[tuple[str, str]], bytes] | None,
        started: datetime,
        wall: float,
        *,
        error: object = None,
        withheld: bool = False,
    ) -> None:
        status = None if got is None or withheld else got[0]
        note = ""
        if withheld and got is not None:
            note = (
                f"captcha_withheld: {len(got[3])} bytes, sha256 "
                f"{hashlib.sha256(got[3]).hexdigest()}, shown to the person only, never stored"
            )
        elif got is None:
            note = Detail.NETWORK if error != "large" else Detail.TOO_LARGE
        self.trail.append(Step(method, str(url), got[0] if got else None, started, note))
        self.on_exchange(
            Exchange(
                probe_id=None,
                method=method,
                url=str(url),
                request_headers=tuple(headers.items()),
                request_body=redact_answers(body or b""),
                status=status,
                reason="" if got is None else got[1],
                http_version="1.1",
                response_headers=tuple(
                    (n, v)
                    for n, v in (got[2] if got and not withheld else [])
                    if n.lower() not in _DROP
                ),
                raw_body=b"" if got is None or withheld else got[3],
                started_at=started.astimezone(UTC),
                elapsed=time.perf_counter() - wall,
                error=note or None,
                remote=None,
            )
        )


class BrowserSession(PoliteSession):
    """The robot's session interface over an attempt's browser context (its cookies, its
    User-Agent), so that the robot's reader reads the slot page with the robot's rules: the
    platform's guard on every hop, the truth refused, no personal or captcha field, bounded sizes,
    redirects followed by hand and recorded."""

    def __init__(
        self,
        context: Any,
        gates: HostGates,
        *,
        probe_id: str | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        super().__init__(gates, probe_id=probe_id, on_exchange=on_exchange)
        self._context = context

    async def __aenter__(self) -> BrowserSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get(self, url: str) -> Response:
        target = absolute_url(url)
        self._refuse(target.query.keys(), url)
        return await self._walk("GET", target, None)

    async def post(self, url: str, data: Mapping[str, str]) -> Response:
        target = absolute_url(url)
        self._refuse([*target.query.keys(), *data.keys()], url)
        return await self._walk("POST", target, urlencode(list(data.items())).encode("ascii"))

    @staticmethod
    def _refuse(names: Any, url: str) -> None:
        for name in names:
            if is_personal(name):
                raise ForbiddenRequest(f"refused to send the field {name!r} to {url}")

    async def _walk(self, method: str, target: URL, body: bytes | None) -> Response:
        history: list[str] = []
        limit = self.gates.politeness.max_redirects
        while True:
            refuse_truth(target)
            fields = dict(parse_qsl(body.decode("ascii"))) if body else {}
            for guard in self._guards:
                guard(method, target, fields)
            status, reason, pairs, raw = await self._send(method, target, body)
            location = next((v for n, v in pairs if n.lower() == "location"), None)
            if status not in _REDIRECTS or not location:
                headers = CIMultiDictProxy(CIMultiDict(pairs))
                return Response(str(target), status, reason, headers, raw, tuple(history))
            if len(history) >= limit:
                raise FetchError(Detail.REDIRECT_LOOP, str(target), "too many redirects")
            history.append(str(target))
            if status not in (307, 308) and method != "GET":
                method, body = "GET", None
            target = target.join(URL(location)).with_fragment(None)

    async def _send(
        self, method: str, target: URL, body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        started, wall = self.clock.now(), time.perf_counter()
        headers = {"Content-Type": _FORM} if body is not None else {}
        sent = {"User-Agent": self.gates.politeness.user_agent, **headers}
        try:
            response = await self._context.request.fetch(
                str(target), method=method, data=body, headers=headers, max_redirects=0,
                timeout=TIMEOUT_MS, fail_on_status_code=False,
            )  # fmt: skip
            raw: bytes = await response.body()
        except Exception as error:
            self._note(method, target, None, started, f"network: {error}")
            raise FetchError(Detail.NETWORK, str(target), f"the browser failed: {error}") from error
        if len(raw) > self.gates.politeness.max_bytes:
            self._note(method, target, None, started, "too_large")
            raise FetchError(Detail.TOO_LARGE, str(target), f"{len(raw)} bytes")
        pairs = [(h["name"], h["value"]) for h in response.headers_array]
        self._note(method, target, response.status, started, "")
        if self._on_exchange is not None:
            self._on_exchange(
                Exchange(
                    probe_id=self.probe_id, method=method, url=str(target),
                    request_headers=tuple(sent.items()), request_body=body or b"",
                    status=response.status, reason=response.status_text, http_version="1.1",
                    response_headers=tuple((n, v) for n, v in pairs if n.lower() not in _DROP),
                    raw_body=raw, started_at=started.astimezone(UTC),
                    elapsed=time.perf_counter() - wall, error=None, remote=None,
                )
            )  # fmt: skip
        return response.status, response.status_text, pairs, raw

    def _note(
        self, method: str, target: URL, status: int | None, started: datetime, note: str
    ) -> None:
        self.requests += 1
        self.trail.append(Step(method, str(target), status, started, note))
