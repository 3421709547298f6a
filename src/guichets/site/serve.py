"""``guichets serve``: the built site on loopback, as a plain static host would serve it.

Any web server can host the site; this one exists so that ``make demo`` and the browser tests can
look at it without installing one. It listens on loopback only (a public mirror belongs behind a
real web server), answers GET and HEAD for files under the folder and nothing else, and sends the
site's Content-Security-Policy, so that a page could not run a script even if one slipped in.

Every answer carries the security headers, redirects and errors included. A path that leaves the
folder gets the same 404 whether something exists there or not (no oracle of the machine's
folders), and a path no file can have (a NUL byte, a control character, a name too long) gets a
400, never a server error.
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


MAX_PATH: Final = 1024  # characters of a URL path; the site's longest is far shorter
MAX_NAME: Final = 255  # bytes of one path segment, as on Linux file systems

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP + "; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _impossible(path: str) -> bool:
    """A path no file of the site can have: control characters, or too long."""
    return (
        len(path) > MAX_PATH
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
        or any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME for part in path.split("/"))
    )


def _inside(root: Path, path: str) -> Path | None:
    """What the URL path names inside ``root`` (links resolved), or None if it leaves it."""
    try:
        target = (root / path.lstrip("/")).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    if target != root and root not in target.parents:
        return None
    return target


def _resolve(root: Path, path: str) -> Path | None:
    """The file a URL path names inside ``root``, directories by their index.html; None if the
    path leaves the folder or names nothing."""
    target = _inside(root, path)
    if target is None:
        return None
    try:
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None
    except (OSError, ValueError):
        return None


def _plain(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=text, headers={**SECURITY_HEADERS, **headers},
        content_type="text/plain", charset="utf-8",
    )  # fmt: skip


def site_app(folder: Path) -> web.Application:
    root = folder.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "405 — méthode refusée / method not allowed", Allow="GET, HEAD")
        path = request.path
        if _impossible(path):
            return _plain(400, "400 — chemin invalide / bad path")
        if not path.endswith("/"):
            inside = _inside(root, path)
            try:
                is_folder = inside is not None and inside.is_dir()
            except (OSError, ValueError):
                is_folder = False
            if is_folder:
                return _plain(301, "301", Location=request.rel_url.raw_path + "/")
        target = _resolve(root, path)
        if target is None:
            return _plain(404, "404 — page introuvable / page not found")
        kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        headers = {**SECURITY_HEADERS, "Content-Type": kind or "application/octet-stream"}
        return web.FileResponse(target, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
