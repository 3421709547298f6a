"""``bench/site.py`` reads the shared bench data without writing beside it: the look for runs an
interrupted bench left (``take_back``) opens the database read-only, so that a bench data
directory on a read-only file system is read, and one on a writable disk is left as it was (no
``-wal`` and ``-shm`` files made beside the database). The script runs in a subprocess: importing
it blocks pandas in the importing process (``_NoPandas``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
HUNG = 600.0  # only a hung script reaches this
_SCRIPT = """
import importlib.util, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("bench_site", Path(sys.argv[1]) / "site.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
home = Path(sys.argv[2])
if sys.argv[3] == "generate":
    bench.generate(home, 2, 3, 24)
else:
    print(bench.take_back(home))
"""


def _bench(home: Path, what: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(BENCH), str(home), what],
        capture_output=True,
        text=True,
        timeout=HUNG,
        check=False,
    )


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("bench") / "data"
    done = _bench(home, "generate")
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def read_only_copy(generated: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the bench data on a tmpfs mounted read-only (root only: skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only file system needs root to mount (make test runs as root)")
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        for path in generated.iterdir():
            shutil.copy2(path, folder / path.name)
        remount = ["mount", "-o", "remount,ro", str(folder)]
        subprocess.run(remount, check=True, capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_nothing_to_take_back_leaves_the_bench_data_as_it_was(
    generated: Path, tmp_path: Path
) -> None:
    home = tmp_path / "data"
    shutil.copytree(generated, home)
    before = _listing(home)
    assert not [name for name in before if name.endswith(("-wal", "-shm"))]
    done = _bench(home, "take_back")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert _listing(home) == before


def test_the_bench_data_is_read_on_a_read_only_file_system(read_only_copy: Path) -> None:
    done = _bench(read_only_copy, "take_back")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
