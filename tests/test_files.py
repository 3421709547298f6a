"""Files written whole or not at all (files.py): the atomic writers, and the data directory's
caches, one reader and one writer for every kept file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from guichets.files import (
    atomic_file,
    copy_atomic,
    link_atomic,
    partial_path,
    read_kept,
    write_atomic,
    write_kept,
)


def test_a_kept_value_reads_back_under_its_stamp_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "site" / "2026-10.pickle"  # folders made by the writer
    write_kept(path, (6, "fingerprint"), {"rows": [1, 2, 3]})
    assert read_kept(path, (6, "fingerprint")) == {"rows": [1, 2, 3]}
    assert read_kept(path, (7, "fingerprint")) is None  # another format: computed again
    assert read_kept(path, (6, "another")) is None  # the data moved: computed again
    assert not partial_path(path).exists()


def test_anything_unreadable_reads_as_nothing_kept(tmp_path: Path) -> None:
    """A cache is only a cache: missing, cut, foreign or not a pair is computed again, never an
    error that stops a build."""
    path = tmp_path / "kept.pickle"
    assert read_kept(path, 1) is None  # missing
    write_kept(path, 1, list(range(1000)))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # cut by a crash before the atomic writer
    assert read_kept(path, 1) is None
    path.write_bytes(b"not a pickle at all")
    assert read_kept(path, 1) is None
    path.write_bytes(pickle.dumps([1, 2, 3]))  # not (stamp, value)
    assert read_kept(path, 1) is None
    path.write_bytes(pickle.dumps("ab"))  # unpacks into two, but is no stamp of ours
    assert read_kept(path, 1) is None
    path.write_bytes(b"")
    assert read_kept(path, 1) is None


def test_every_writer_leaves_the_old_file_or_the_new_one_and_no_partial(tmp_path: Path) -> None:
    target, source = tmp_path / "page.html", tmp_path / "source.html"
    target.write_text("old")
    source.write_text("new")
    missing = tmp_path / "missing"
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write(b"half")
        raise RuntimeError("a failure while writing")
    with pytest.raises(FileNotFoundError):
        copy_atomic(missing, target)
    with pytest.raises(FileNotFoundError):
        link_atomic(missing, target)  # neither a link nor a copy
    assert target.read_text() == "old" and not partial_path(target).exists()

    published = tmp_path / "published.html"  # a hard link shared with the live site
    os.link(target, published)
    copy_atomic(source, target)
    assert target.read_text() == "new" and published.read_text() == "old"  # not written through
    link_atomic(source, target)
    assert target.stat().st_ino == source.stat().st_ino
    write_atomic(target, b"again", durable=True)
    assert target.read_bytes() == b"again" and source.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "page.html",
        "published.html",
        "source.html",
    ]
