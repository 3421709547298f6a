"""``publish.staged_site``: the old site swapped out stays beside ``--out`` until the next build,
which removes it, and any killed build's staging folder, while it works (in a forked child, or
at once without ``fork``); links there are not followed; a failed build leaves the site as it
was and no staging folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from guichets.files import write_atomic
from guichets.site.publish import STAGING_MARK, staged_site


def _build(out: Path, text: str) -> None:
    """A build: every file replaced, never written through the hard link of the live site."""
    with staged_site(out) as work:
        write_atomic(work / "index.html", text.encode())
        (work / "services").mkdir(exist_ok=True)
        write_atomic(work / "services" / "a.html", text.encode())


def _aside(out: Path) -> list[Path]:
    prefix = f".{out.name}{STAGING_MARK}"
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix))


@pytest.mark.parametrize("fork", [True, False])
def test_the_old_site_is_removed_by_the_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: bool
) -> None:
    if not fork:
        monkeypatch.delattr(os, "fork")
    out = tmp_path / "site"
    _build(out, "one")
    assert _aside(out) == []  # a first build swaps nothing out
    _build(out, "two")
    [old] = _aside(out)
    assert (old / "index.html").read_text() == "one"  # the previous site, until the next build
    assert (out / "index.html").read_text() == "two"
    killed = tmp_path / f".site{STAGING_MARK}12345"  # what a build killed halfway leaves
    (killed / "services").mkdir(parents=True)
    (killed / "services" / "a.html").write_text("half")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (killed / "link").symlink_to(outside, target_is_directory=True)
    _build(out, "three")
    [again] = _aside(out)
    assert not old.exists() and not killed.exists()
    assert (again / "index.html").read_text() == "two"
    assert (out / "index.html").read_text() == "three"
    assert (out / "services" / "a.html").read_text() == "three"
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_failed_build_leaves_the_site_and_no_staging_folder(tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(out, "one")
    _build(out, "two")
    with pytest.raises(RuntimeError), staged_site(out) as work:
        write_atomic(work / "index.html", b"half")
        raise RuntimeError("killed")
    assert _aside(out) == []  # the old site removed meanwhile, the failed staging folder too
    assert (out / "index.html").read_text() == "two"


@pytest.mark.parametrize("name", ["site[1]", "site*", "site?"])
def test_only_this_sites_leftovers_are_removed_whatever_its_name(tmp_path: Path, name: str) -> None:
    """The folders removed are named after ``--out`` literally: a name with a glob's special
    characters must not make another site's folder beside it look like one of ours."""
    other = tmp_path / f".site1{STAGING_MARK}99999"  # another site's (``site1``) staging folder
    other.mkdir()
    (other / "index.html").write_text("not ours")
    out = tmp_path / name
    _build(out, "one")
    _build(out, "two")
    _build(out, "three")
    assert (other / "index.html").read_text() == "not ours"
    assert (out / "index.html").read_text() == "three"
    assert len(_aside(out)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the removal child needs fork")
def test_an_interrupt_just_after_the_fork_never_runs_the_build_in_the_removal_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C reaches the whole process group, the removal child too, maybe before it is in
    its ``try``: it must die there, never raise KeyboardInterrupt up the build's own stack (a
    second copy of the build running its error handlers: the month files' writer stopped, the
    database connections closed, the output flushed twice)."""
    out = tmp_path / "site"
    _build(out, "one")
    _build(out, "two")  # the old site is now aside: the next build forks to remove it
    real_fork = os.fork
    parent = os.getpid()
    escaped = tmp_path / "escaped"

    def fork_then_interrupted() -> int:
        pid = real_fork()
        if pid == 0:
            os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C arriving at that moment
        return pid

    monkeypatch.setattr(os, "fork", fork_then_interrupted)
    try:
        _build(out, "three")
    except BaseException:
        if os.getpid() != parent:  # the child came back up the build's stack
            escaped.write_text("the removal child ran the build's error path")
            os._exit(3)
        raise
    assert not escaped.exists()
    assert (out / "index.html").read_text() == "three"
