"""One build of a site at a time (``publish.site_lock``): a build removes the leftovers of earlier
builds beside ``--out``, which would remove the staging folder of another build of the same site
still at work. Two real processes, coordinated by pipes: never a sleep or a clock.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets import datadir
from guichets.cli import app
from guichets.files import write_atomic
from guichets.runlock import LOCK_FILE, LockRefused, run_lock
from guichets.site.publish import STAGING_MARK, SiteBusy, lock_path, site_lock, staged_site
from guichets.store import Store

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="two processes by fork")

_FORK = multiprocessing.get_context("fork") if hasattr(os, "fork") else None


def _slow_build(out: Path, text: str, inside: Connection, go: Connection) -> None:
    """A build that says when its staging folder is in use, then waits to be let go."""
    with staged_site(out) as work:
        write_atomic(work / "index.html", text.encode())
        inside.send(os.getpid())
        go.recv()


def _holding(out: Path, inside: Connection, go: Connection) -> None:
    """Only the site's lock, held until let go."""
    with site_lock(out):
        inside.send(os.getpid())
        go.recv()


def _waiting_build(out: Path, text: str, told: Connection) -> None:
    with site_lock(out, wait=3600, waiting=told.send) as held, staged_site(out, held) as work:
        write_atomic(work / "index.html", text.encode())


def _outlived(inside: Connection, go: Connection) -> None:
    """A build's forked worker that outlives it (left running, or hung, when it was killed);
    says its pid from inside: once it runs, what a child does at the fork is done."""
    inside.send(os.getpid())
    go.recv()


def _holding_with_a_worker(out: Path, inside: Connection, go: Connection) -> None:
    """A build holding the site, with a forked worker; waits to be killed."""
    with site_lock(out):
        _start(_outlived, inside, go)
        inside.recv()  # never comes: this process is killed


def _leftovers(out: Path) -> list[str]:
    prefix = f".{out.name}{STAGING_MARK}"
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(prefix))


def _start(target: object, *args: object) -> multiprocessing.process.BaseProcess:
    assert _FORK is not None
    child = _FORK.Process(target=target, args=args)  # type: ignore[attr-defined]
    child.start()
    return child


def _start_holding(
    target: object, *args: object
) -> tuple[multiprocessing.process.BaseProcess, Connection, Connection]:
    """Start ``target(*args, inside, go)`` forked; returns it with this side's ends: what it
    tells from inside (``recv``), and ``go`` (``send``) to let it end."""
    inside, inside_end = multiprocessing.Pipe()
    go_end, go = multiprocessing.Pipe()
    return _start(target, *args, inside_end, go_end), inside, go


def test_a_second_build_of_the_same_site_fails_and_leaves_the_first_at_work(
    tmp_path: Path,
) -> None:
    """Without the lock, the second build's removal of leftovers took the first build's staging
    folder (in use), and the first build's swap failed."""
    out = tmp_path / "site"
    with staged_site(out) as work:
        write_atomic(work / "index.html", b"zero")
    first, inside, go = _start_holding(_slow_build, out, "first")
    try:
        pid = inside.recv()
        with pytest.raises(SiteBusy) as refused, staged_site(out) as work:
            write_atomic(work / "index.html", b"second")
        message = str(refused.value)
        assert f"another build of the site {out}" in message
        assert f"pid {pid}" in message and "guichets site build" in message
        assert str(lock_path(out)) in message
    finally:
        go.send("go")
        first.join()
    assert first.exitcode == 0
    assert (out / "index.html").read_text() == "first"
    assert lock_path(out) == tmp_path / ".site.lock"


def test_a_build_given_time_waits_for_the_other_then_builds(tmp_path: Path) -> None:
    """A second build given time says once that it waits, naming the first; the first is let
    go only once it is heard; the second then builds, after the first, and its site is the one
    left in place."""
    out = tmp_path / "site"
    told, told_end = multiprocessing.Pipe()
    first, inside, go = _start_holding(_slow_build, out, "first")
    pid = inside.recv()
    second = _start(_waiting_build, out, "second", told_end)
    try:
        said = told.recv()  # the second build is waiting: only now is the first let go
        assert said.startswith(f"waiting up to 3600 s for another build of the site {out}")
        assert f"pid {pid}" in said
    finally:
        go.send("go")
        first.join()
        second.join()
    assert (first.exitcode, second.exitcode) == (0, 0)
    assert (out / "index.html").read_text() == "second"
    assert len(_leftovers(out)) == 1  # the first site swapped out, for the next build to remove


def test_the_command_fails_clearly_while_another_build_holds_the_site(tmp_path: Path) -> None:
    """``guichets site build --wait 0s`` while another process holds the site's lock: exit 1,
    one message saying what (another build of that site, its pid), where (the lock file) and
    what to do (build again, or --wait), and nothing built."""
    home = tmp_path / "data"
    with Store.open(None, home=home):
        pass
    out = tmp_path / "public"
    holder, inside, go = _start_holding(_holding, out)
    try:
        pid = inside.recv()
        result = CliRunner().invoke(
            app, ["site", "build", "--home", str(home), "--out", str(out), "--wait", "0s"]
        )
    finally:
        go.send("go")
        holder.join()
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert f"another build of the site {out} is under way" in text
    assert f"pid {pid}" in text
    assert str(lock_path(out)) in text
    assert "--wait" in text
    assert not out.exists()  # nothing was built
    for wait in ("soon", "\u00b2s", "1\u0663m"):  # a superscript two, an Arabic-Indic three
        bad = CliRunner().invoke(app, ["site", "build", "--home", str(home), "--wait", wait])
        assert bad.exit_code == 2 and f"--wait {wait!r}" in bad.output, bad.output


def _as_nobody(out: Path, answer: Connection) -> None:
    """Another user's build: refused while the site is held, then builds."""
    os.setgid(65534)
    os.setuid(65534)
    try:
        with site_lock(out):
            answer.send("taken")
    except SiteBusy as busy:
        answer.send(f"busy: {busy}")
    except OSError as error:
        answer.send(f"error: {error!r}")


@pytest.mark.skipif(os.geteuid() != 0, reason="another user is played by root only")
def test_a_build_by_another_user_shares_the_lock_file(tmp_path: Path) -> None:
    """The lock file is made by the first user to build (a service's, mode 0644): another
    user's build (an operator's, in the group that may write beside the site) opens it
    read-only, and is refused while the site is held, then takes it: a lock needs no writing."""
    shared = Path(tempfile.mkdtemp(prefix="guichets-lock-"))  # not under root's 0700 tmp_path
    try:
        shared.chmod(0o777)
        out = shared / "site"
        answer, answer_end = multiprocessing.Pipe()
        with site_lock(out):
            assert lock_path(out).stat().st_mode & 0o777 == 0o644
            other = _start(_as_nobody, out, answer_end)
            said = answer.recv()
            other.join()
        assert said.startswith(f"busy: another build of the site {out}"), said
        other = _start(_as_nobody, out, answer_end)
        said = answer.recv()
        other.join()
        assert said == "taken"
    finally:
        shutil.rmtree(shared)


def test_a_killed_build_s_workers_do_not_hold_the_site(tmp_path: Path) -> None:
    """A build killed (SIGKILL, SIGTERM without a handler, the OOM killer) while a worker it
    forked lives on: the site's lock goes with the build, not with the worker (before: the
    worker's copy of the lock's descriptor held it, and every later build was refused, naming
    the killed build, for as long as the worker lived: for ever when it hung, as pool workers
    whose parent is gone can)."""
    out = tmp_path / "public"
    holder, inside, go = _start_holding(_holding_with_a_worker, out)
    try:
        worker = inside.recv()
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
        os.kill(worker, 0)  # the worker lives on
        with site_lock(out):  # at once (wait=0): SiteBusy before
            pass
    finally:
        go.send("go")  # the worker ends


def test_a_lock_file_made_a_link_is_refused_and_nothing_written_through_it(
    tmp_path: Path,
) -> None:
    """The lock file beside ``--out`` made a symbolic link (by whoever may write beside the
    site) to another file, or to a name nothing has: the build exits 1 saying that the lock
    file is a link, and what it points at is neither written nor made (before: opened through
    the link, the file was truncated and given the lock's text, or made). The run's lock in the
    data directory the same."""
    home = tmp_path / "data"
    with Store.open(None, home=home):
        pass
    out = tmp_path / "public"
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    for target in (precious, tmp_path / "made"):
        lock_path(out).unlink(missing_ok=True)
        lock_path(out).symlink_to(target)
        result = CliRunner().invoke(
            app, ["site", "build", "--home", str(home), "--out", str(out), "--wait", "0s"]
        )
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert f"the lock file {lock_path(out)} is a symbolic link: refused" in text
        assert not out.exists()  # nothing was built
    assert precious.read_text() == "keep me"
    assert not (tmp_path / "made").exists()
    (home / LOCK_FILE).symlink_to(precious)
    with (
        Store.open(None, home=home) as store,
        pytest.raises(LockRefused, match="symbolic link"),
        run_lock(home, store),
    ):
        pass
    assert precious.read_text() == "keep me"


def test_a_demo_whose_site_another_build_holds_fails_clearly(tmp_path: Path) -> None:
    """``guichets demo`` builds its site after its run, without waiting: while another build
    holds that site (``guichets site build --home`` of the demo's data, into its site), it
    exits 1 with the same message as ``site build``, naming the holder, and no traceback
    (before: SiteBusy's traceback; likewise MonthsBusy and a lock file made a link)."""
    home = tmp_path / "demo"
    holder, inside, go = _start_holding(_holding, datadir.site(home))
    try:
        pid = inside.recv()
        done = subprocess.run(
            [sys.executable, "-m", "guichets", "demo", "--days", "1", "--out", str(home),
             "--no-serve", "--no-evidence"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        go.send("go")
        holder.join()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    text = " ".join(done.stderr.split())
    assert f"another build of the site {datadir.site(home)} is under way" in text, text
    assert f"pid {pid}" in text
