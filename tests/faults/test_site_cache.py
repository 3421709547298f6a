"""The site's cache (``DATA/cache/site``) is only a cache: a file of it that cannot be read or
written costs the work it would have saved, never the build; what a killed build left half
written there is removed by a later build. Each build runs in a fresh process
(``python -m guichets``), as cron runs it: nothing is kept in memory from an earlier build.

The cache is made unwritable without permissions (the tests may run as root, whom ``chmod`` does
not stop): a folder stands where a cache file goes, or the cache is asked under a file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from guichets import datadir
from guichets.files import atomic_file, partial_path
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


def _killed_writer(paths: list[Path], written: Connection) -> None:
    """Writes each of ``paths`` as every writer of the cache does, and is killed midway."""
    with contextlib.ExitStack() as files:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            files.enter_context(atomic_file(path)).write(b"half a file")
        written.send("written")
        written.recv()  # never answered: killed here


def _hours_ago(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600  # a file's times, set: no clock waited for
    os.utime(path, (then, then), follow_symlinks=False)


def test_a_killed_builds_partial_files_are_removed_by_the_next_build_and_only_they(
    home: Path, tmp_path: Path
) -> None:
    """A build killed while it wrote cache files leaves their partial files (``.NAME.partial``,
    ``files.partial_path``), in the cache and its folders: the next build removes those last
    written over an hour ago. It keeps a fresh one (another build of the same data directory, into
    another ``--out``, may be writing it: the site's lock is ``--out``'s), files not named as
    ours, and links named as ours (neither removed nor followed, nor a linked folder walked)."""
    cache = datadir.cache(home, "site")
    killed = [cache / "2020-01.pickle", cache / "templates" / "page.cache"]
    told, told_end = multiprocessing.Pipe()
    writer = multiprocessing.get_context("fork").Process(
        target=_killed_writer, args=(killed, told_end)
    )
    writer.start()
    assert told.recv() == "written"
    writer.kill()
    writer.join()
    left = [partial_path(path) for path in killed]
    assert all(p.is_file() for p in left)
    for partial in left:
        _hours_ago(partial, 2)
    fresh = partial_path(cache / "figures-2020-02.pickle")
    fresh.write_bytes(b"being written by another build")
    _hours_ago(fresh, 0.5)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    _hours_ago(outside / "precious", 2)
    (outside / ".elsewhere.partial").write_text("not the cache's")
    _hours_ago(outside / ".elsewhere.partial", 2)
    link = cache / ".link.partial"
    link.symlink_to(outside / "precious")
    _hours_ago(link, 2)
    (cache / "linked").symlink_to(outside, target_is_directory=True)
    theirs = cache / "notes.partial"  # not a name ours have
    theirs.write_text("someone's")
    _hours_ago(theirs, 2)
    built = _build(home, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    assert [p for p in left if p.exists()] == []
    assert fresh.read_bytes() == b"being written by another build"
    assert link.is_symlink() and (outside / "precious").read_text() == "keep me"
    assert (outside / ".elsewhere.partial").read_text() == "not the cache's"
    assert theirs.read_text() == "someone's"


def test_a_templates_cache_that_cannot_be_made_does_not_fail_the_build(
    home: Path, tmp_path: Path
) -> None:
    """A file where the templates are kept compiled (``DATA/cache/site/templates``, Jinja2's
    bytecode cache): the folder cannot be made, nor anything read or written under it (root
    included). The build compiles the templates, renders the site and exits 0, saying once in
    its log what was not kept; the file is left as it was (before: FileExistsError, exit 1)."""
    templates = datadir.cache(home, "site") / "templates"
    templates.parent.mkdir(parents=True, exist_ok=True)
    templates.write_text("someone's")
    built = _build(home, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    said = " ".join(built.stderr.split())
    assert said.count("not kept in the cache (done again next time): [Errno 17] File exists") == 1
    assert f"'{templates}'" in said
    assert "<svg" in (tmp_path / "public" / "index.html").read_text("utf-8")
    assert templates.read_text() == "someone's"
