"""A simulated full disk, for machines where a test may not mount a small tmpfs (not root, or
in a container without the right): run ``guichets`` in a subprocess whose writes under one folder
see a disk of ``--size`` bytes.

    python tests/faults/fulldisk.py --root FOLDER --size BYTES -- run --home FOLDER/data ...

The fault is injected where every byte leaves Python for the kernel, so it reaches our file
writers whatever module they are in (``evidence.layout.write_all``'s ``os.write``, the buffered
files of ``guichets.files`` and ``open``): the folder's usage is the sum of its files' sizes, and a
write that would grow it past ``--size`` writes what fits and returns a short count, then fails
with ``ENOSPC``, as Linux does on a full file system. Reads, renames, truncation and deletion are
the real ones (truncating or deleting frees space, as on a disk). No LD_PRELOAD, no root.

The test process fills the same simulated disk with ``fill`` (a file of exactly the space left).
"""

from __future__ import annotations

import argparse
import builtins
import errno
import fcntl
import io
import os
import runpy
import sys
from pathlib import Path
from typing import Any

__all__ = ["fill", "usage"]


def usage(root: Path) -> int:
    """Bytes used under ``root``: the sizes of its files (directories and links count nothing)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue  # renamed or deleted meanwhile
    return total


def fill(root: Path, size: int) -> Path:
    """Take every byte left on the simulated disk of ``size`` bytes at ``root``."""
    filler = root / "filler"
    with filler.open("ab") as out:
        out.write(b"\0" * max(0, size - usage(root)))
    return filler


class _Disk:
    """The accounting of the simulated disk, shared by every patched writer of the process."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = str(root.resolve())
        self.size = size

    def _path_of(self, fd: int) -> str | None:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None

    def allowed(self, fd: int, count: int) -> int:
        """How many of ``count`` bytes written at ``fd``'s position fit on the disk; raises
        ENOSPC when none does and the write would grow the file."""
        path = self._path_of(fd)
        if path is None or not (path == self.root or path.startswith(self.root + os.sep)):
            return count
        size = os.fstat(fd).st_size
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            position = size
        else:
            position = os.lseek(fd, 0, os.SEEK_CUR)
        growth = max(0, position + count - size)
        free = self.size - usage(Path(self.root))
        if growth <= free:
            return count
        fits = max(0, count - growth + max(0, free))
        if fits == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fits


def _install(disk: _Disk) -> None:
    """Route ``os.write`` and every file object opened for writing through ``disk``."""
    real_write = os.write
    real_open = io.open

    def write(fd: int, data: Any, /) -> int:
        view = memoryview(data).cast("B")
        return real_write(fd, view[: disk.allowed(fd, len(view))])

    class CheckedFileIO(io.FileIO):
        def write(self, data: Any, /) -> int:
            view = memoryview(data).cast("B")
            written = super().write(view[: disk.allowed(self.fileno(), len(view))])
            return written or 0

    def open_checked(file: Any, mode: str = "r", buffering: int = -1, *args: Any,
                     **kwargs: Any) -> Any:  # fmt: skip
        if not any(flag in mode for flag in "wax+"):
            return real_open(file, mode, buffering, *args, **kwargs)
        closefd = kwargs.pop("closefd", True)
        opener = kwargs.pop("opener", None)
        raw_mode = mode.replace("b", "").replace("t", "")
        raw = CheckedFileIO(file, raw_mode, closefd=closefd, opener=opener)
        binary = "b" in mode
        stream: Any = (
            (io.BufferedRandom(raw) if "+" in mode else io.BufferedWriter(raw))
            if buffering != 0
            else raw
        )
        if binary:
            return stream
        encoding = kwargs.get("encoding") or (args[0] if args else None)
        errors = kwargs.get("errors") or (args[1] if len(args) > 1 else None)
        newline = kwargs.get("newline", args[2] if len(args) > 2 else None)
        return io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline=newline,
                                line_buffering=buffering == 1)  # fmt: skip

    def fdopen(fd: int, mode: str = "r", buffering: int = -1, *args: Any, **kwargs: Any) -> Any:
        return open_checked(fd, mode, buffering, *args, **kwargs)

    os.write = write
    io.open = open_checked  # pathlib opens through io.open
    builtins.open = open_checked
    os.fdopen = fdopen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    _install(_Disk(options.root, options.size))
    sys.argv = ["guichets", *args]
    runpy.run_module("guichets", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
