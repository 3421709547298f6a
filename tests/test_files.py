"""The data directory's caches: one reader and one writer for every kept file (files.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

from guichets.files import partial_path, read_kept, write_kept


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
