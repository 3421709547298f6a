"""``guichets serve``: the built site on loopback, as a plain static host would serve it.

Any web server can host the site; this one exists so that ``make demo`` and the browser tests can
look at it without installing one. It listens on loopback only (a public mirror belongs behind a
real web server), answers GET and HEAD for files under the folder and nothing else, and sends the
site's Content-Security-Policy, so that a page could not run a script even if one slipped in.
"""

from __future__ import annotations

import ipaddress
import mimetypes
from pathlib import Path
from typing import Final

from aiohttp import web

__all__ = ["CSP", "check_loopback", "site_app"]

# No script at all, nothing from elsewhere: the same policy as a <meta> in every page and as a
# header from ``guichets serve``.
CSP: Final = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'"
)

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".md": "text/markdown; charset=utf-8",
}


def check_loopback(host: str) -> None:
    """Refuse to listen anywhere but loopback: ValueError with what would be right."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return
        raise ValueError(f"--host {host!r} is not an IP address; use 127.0.0.1 or ::1") from None
    if not address.is_loopback:
        raise ValueError(
            f"--host {host} is not a loopback address; guichets serve listens on loopback only "
            "(127.0.0.0/8 or ::1): publish the folder with a real web server"
        )


def _resolve(root: Path, path: str) -> Path | None:
    """The file a URL path names inside ``root``, directories by their index.html; None if the
    path leaves the folder or names nothing."""
    target = (root / path.lstrip("/")).resolve()
    if target != root and root not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def site_app(folder: Path) -> web.Application:
    root = folder.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if request.path.endswith("/") is False and (root / request.path.lstrip("/")).is_dir():
            raise web.HTTPMovedPermanently(request.path + "/")
        target = _resolve(root, request.path)
        if target is None:
            raise web.HTTPNotFound(text="404 — page introuvable / page not found")
        kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        headers = {
            "Content-Security-Policy": CSP + "; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Type": kind or "application/octet-stream",
        }
        return web.FileResponse(target, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
