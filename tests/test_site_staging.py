"""``publish.staged_site``: the old site swapped out stays beside ``--out`` until the next build,
which removes it, and any killed build's staging folder, while it works (in a forked child, or
at once without ``fork``); links there are not followed; a failed build leaves the site as it
was and no staging folder."""

from __future__ import annotations

import os
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
    return sorted(out.parent.glob(f".{out.name}{STAGING_MARK}*"))


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
