"""What goes over the wire and what comes back: an :class:`Exchange` (the evidence, raw bytes
as received), a :class:`Response` (what a reader reads, decoded and bounded), and the two ways a
request ends without one (:class:`FetchError`, :class:`ForbiddenRequest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from multidict import CIMultiDictProxy

from guichets.http.decode import charset

__all__ = ["Exchange", "FetchError", "ForbiddenRequest", "Response"]


class FetchError(Exception):
    """A request that gave no usable response, or was not sent because a rule forbade it.

    ``detail`` is a :class:`~guichets.model.Detail` value: timeout, network, too_large,
    redirect_loop, robots, circuit_open or rate_limited.

    When robots.txt is unreachable RFC 9309 forbids everything, and nothing more is sent. If the
    site answered 5xx (or 429) the detail is ``robots`` and ``cause`` holds ``http_503`` and the
    like; if it did not answer at all, the detail is ``timeout`` or ``network``, because that is
    what the probe found: a site that was down, not a barrier.
    """

    def __init__(
        self,
        detail: str,
        url: str,
        message: str,
        *,
        status: int | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message)
        self.detail = str(detail)
        self.url = url
        self.message = message
        self.status = status
        self.cause = cause

    def __repr__(self) -> str:
        return f"FetchError({self.detail!r}, {self.url!r}, {self.message!r})"


class ForbiddenRequest(Exception):
    """A programming error: the code tried to send what a person sends only to book."""


@dataclass(frozen=True)
class Exchange:
    """One HTTP request actually sent, and what came back: the evidence."""

    probe_id: str | None
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int | None
    reason: str
    http_version: str
    response_headers: tuple[tuple[str, str], ...]  # as received (raw, order kept)
    raw_body: bytes  # as received on the wire, before content decoding (gzip stays gzip)
    started_at: datetime  # clock time when sent (UTC)
    elapsed: float  # wall seconds
    error: str | None  # Detail value when the exchange failed; "cancelled" if the probe was
    remote: str | None  # peer IP when known


@dataclass(frozen=True)
class Response:
    """A final response (redirects followed), its body decoded and bounded."""

    url: str
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes  # decoded content (gzip/deflate undone, bounded)
    history: tuple[str, ...] = ()  # URLs of the redirects followed, in order

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters (``text/html``)."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        """The body as text; never raises, whatever the bytes (bad ones become U+FFFD)."""
        found = charset(self.headers.get("Content-Type", ""), self.body)
        try:
            return self.body.decode(found, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")
