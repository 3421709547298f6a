"""The site's cache (``DATA/cache/site``) is only a cache: a file of it that cannot be read or
written costs the work it would have saved, never the build. Each build runs in a fresh process
(``python -m guichets``), as cron runs it: nothing is kept in memory from an earlier build.

The cache is made unwritable without permissions (the tests may run as root, whom ``chmod`` does
not stop): a folder stands where a cache file goes, or the cache is asked under a file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from guichets import datadir
from guichets.site.build import MAP_SHAPES_FILE

HUNG = 600.0  # only a hung build reaches this


def _build(home: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guichets", "site", "build", "--home", str(home), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=HUNG,
        check=False,
    )


def test_a_map_shapes_file_that_cannot_be_read_or_written_does_not_fail_the_build(
    home: Path, tmp_path: Path
) -> None:
    """A folder where the map's compacted shapes are kept (``francemap.keep_shapes``, called as
    the builder is made): they cannot be read from there nor written there. The build computes
    them, draws the map, and exits 0, saying in its log what was not kept; the folder is left as
    it was."""
    shapes = datadir.cache(home, "site") / MAP_SHAPES_FILE
    shapes.mkdir(parents=True)
    (shapes / "someone's").write_text("kept")
    out = tmp_path / "public"
    built = _build(home, out)
    assert built.returncode == 0, built.stderr
    said = " ".join(built.stderr.split())
    assert "not kept in the cache (done again next time): [Errno 21] Is a directory" in said
    assert f"'{shapes}'" in said
    assert "<svg" in (out / "index.html").read_text("utf-8")  # the map is drawn
    assert sorted(p.name for p in shapes.iterdir()) == ["someone's"]
    assert not list(shapes.parent.glob("*.partial"))  # nothing half-written left behind
    again = _build(home, tmp_path / "again")  # and once more: nothing kept, the same
    assert again.returncode == 0, again.stderr


def test_shapes_kept_under_a_file_are_computed_and_used(tmp_path: Path) -> None:
    """``keep_shapes`` asked to keep them under a file (its folder cannot be made): no error,
    the shapes are there for the map."""
    (tmp_path / "a-file").write_text("not a folder")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from guichets.site import francemap\n"
        "francemap.keep_shapes(Path(sys.argv[1]))\n"
        "print(len(francemap.shape_codes()))\n"
    )
    where = str(tmp_path / "a-file" / "shapes.pickle")
    done = subprocess.run(
        [sys.executable, "-c", code, where],
        capture_output=True,
        text=True,
        timeout=HUNG,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 96  # the mainland's départements at least
