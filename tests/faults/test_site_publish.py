"""``site build`` and ``serve`` against a hostile folder and a kill: the build never writes or
deletes outside ``--out`` (a symbolic link planted in it is not followed), a build killed halfway
leaves the previous site whole; ``serve`` gives no oracle of the machine's folders, answers 400
for impossible paths, and sends its security headers on every answer."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from guichets.cli import app
from guichets.site.publish import STAGING_MARK
from guichets.site.serve import site_app

HUNG = 600.0  # only a hung build reaches this


def _build(home: Path, out: Path) -> None:
    result = CliRunner().invoke(app, ["site", "build", "--home", str(home), "--out", str(out)])
    assert result.exit_code == 0, result.output


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_planted_link_is_not_followed(home: Path, tmp_path: Path) -> None:
    """``--out/services`` is a link to a folder elsewhere holding a file: after the build the
    file is still there, untouched, and ``services`` is the site's own folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me", "utf-8")
    out = tmp_path / "site"
    out.mkdir()
    (out / "services").symlink_to(outside, target_is_directory=True)
    (out / "en").mkdir()
    (out / "en" / "services").symlink_to(outside, target_is_directory=True)
    _build(home, out)
    assert (outside / "precious.txt").read_text("utf-8") == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (out / "services").is_dir() and not (out / "services").is_symlink()
    assert (out / "index.html").is_file()


def test_a_build_killed_halfway_leaves_the_previous_site(home: Path, tmp_path: Path) -> None:
    """A first build; a second one killed once its staging folder exists: the site is byte for
    byte the first one; the next build removes the staging folder and succeeds, leaving beside
    the site only the one it swapped out (the first build's, removed by the build after)."""
    out = tmp_path / "site"
    _build(home, out)
    before = _digests(out)
    build = subprocess.Popen(
        [sys.executable, "-m", "guichets", "site", "build", "--home", str(home), "--out",
         str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    limit = time.monotonic() + HUNG
    staging = list(tmp_path.glob(f".site{STAGING_MARK}*"))
    while not staging and build.poll() is None:
        assert time.monotonic() < limit
        time.sleep(0.02)
        staging = list(tmp_path.glob(f".site{STAGING_MARK}*"))
    if build.poll() is None:
        os.kill(build.pid, signal.SIGKILL)
    build.wait(timeout=HUNG)
    assert _digests(out) == before
    _build(home, out)
    [old] = tmp_path.glob(f".site{STAGING_MARK}*")
    assert old not in staging
    assert _digests(old) == before


async def test_serve_has_no_oracle_and_no_server_error(home: Path, tmp_path: Path) -> None:
    """Outside the folder, an existing folder and a missing one get the same 404; a NUL byte, a
    control character or an over-long name get 400; 301, 404 and 405 carry the headers."""
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<p>ok</p>", "utf-8")
    (site / "sub" / "index.html").write_text("<p>sub</p>", "utf-8")
    async with TestClient(TestServer(site_app(site), host="127.0.0.1")) as client:
        answers = {}
        for path in ("/../../../../etc", "/../../../../no-such-folder-here", "/%2e%2e/%2e%2e/etc",
                     "/%2e%2e/%2e%2e/no-such"):  # fmt: skip
            got = await client.get(path, allow_redirects=False)
            answers[path] = (got.status, await got.text())
        assert len(set(answers.values())) == 1 and next(iter(answers.values()))[0] == 404
        for path in ("/%00", "/a%00b", "/%1b[2J", "/" + "a" * 300, "/x/" * 400):
            got = await client.get(path, allow_redirects=False)
            assert got.status == 400, (path, got.status)
        for method, path, status in (("GET", "/sub", 301), ("GET", "/nothing", 404),
                                     ("POST", "/", 405), ("GET", "/%00", 400)):  # fmt: skip
            got = await client.request(method, path, allow_redirects=False)
            assert got.status == status
            assert "script-src 'none'" in got.headers.get("Content-Security-Policy", "")
            assert got.headers.get("X-Content-Type-Options") == "nosniff"
