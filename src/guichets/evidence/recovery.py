"""After a crash: bring the WARC files back to exactly the records of stored probes.

A run killed at any moment leaves, at worst: a file it was writing, not closed in the store, with
the records of a probe it had not yet stored after the last stored one (maybe cut short); or a new
file not yet recorded in the store. Recovery, run when an archive opens (``guichets run``,
``guichets demo``) or by ``guichets evidence recover``, moves such bytes to
``evidence/orphans/`` (they are kept, never counted as evidence), cuts the file back to its last
stored record and closes it (size and SHA-256 stored). Files a live writer holds (its lock) are
left alone. Retention interrupted after its transaction leaves files the store calls pruned: they
are removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from guichets.evidence import layout
from guichets.files import atomic_file
from guichets.resilience import disk_message
from guichets.store import Store, StoreError

__all__ = ["Recovery", "committed_end", "recover"]


@dataclass
class Recovery:
    """What recovery found and did, for the run's log and ``guichets evidence recover``."""

    closed: list[str] = field(default_factory=list)  # files closed (digest stored)
    tails: list[tuple[str, int, Path]] = field(default_factory=list)  # (file, bytes, moved to)
    strays: list[Path] = field(default_factory=list)  # files the store never knew, moved aside
    removed: list[str] = field(default_factory=list)  # pruned files still on disk, removed
    busy: list[str] = field(default_factory=list)  # files a live writer holds
    damaged: list[str] = field(default_factory=list)  # shorter than their stored records
    failed: list[str] = field(default_factory=list)  # what could not be done (a full disk), why

    def lines(self) -> list[str]:
        out = [f"closed {name} (left open by an interrupted run)" for name in self.closed]
        out += [
            f"moved {size} bytes of unstored records from {name} to {target}"
            for name, size, target in self.tails
        ]
        out += [f"moved {p.name}, never recorded in the store, to {p}" for p in self.strays]
        out += [f"removed {name}, pruned by retention" for name in self.removed]
        out += [
            f"{name} is shorter than its stored records: left as it is for `guichets evidence "
            "verify` to report"
            for name in self.damaged
        ]
        out += [f"not done: {why}" for why in self.failed]
        return out


def committed_end(store: Store, name: str) -> int:
    """The end of the last record the store knows in file ``name`` (0 if none)."""
    ends = [
        r.position + r.size
        for r in store.evidence_records(file=name)
        if r.position is not None and r.size is not None
    ]
    return max(ends, default=0)


def _sha256_of(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _aside(home: Path, name: str) -> Path:
    folder = layout.orphans_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    counter = 1
    while target.exists():
        target = folder / f"{counter}-{name}"
        counter += 1
    return target


def _copy_tail(path: Path, end: int, target: Path) -> None:
    """Copy ``path`` from ``end`` to ``target`` whole or not at all: through a partial file,
    fsynced, then renamed; a failed copy (a full disk) leaves no file behind."""
    with path.open("rb") as source, atomic_file(target, durable=True) as out:
        source.seek(end)
        while chunk := source.read(1 << 20):
            out.write(chunk)


def recover(
    home: Path, store: Store, *, now: datetime | None = None, worker: str | None = None
) -> Recovery:
    """Move unstored bytes aside and close the files interrupted runs left open.

    Only the files of one writer: ``guichets run``'s at the top of the WARC folder, or one
    worker's in its own folder. A worker never touches another's files: on a shared network
    filesystem, another machine's lock may not be visible, and that machine may be alive.
    """
    base = layout.warc_dir(home)
    prefix = layout.worker_prefix(worker)
    folder = base / prefix if prefix else base
    report = Recovery()
    if not folder.is_dir():
        return report
    at = now or datetime.now(UTC)
    known = {f.name: f for f in store.evidence_files() if layout.in_scope(f.name, prefix)}
    for path in sorted(folder.glob(f"*{layout.WARC_SUFFIX}")):
        file = known.get(prefix + path.name)
        if file is not None and file.pruned_at is None:
            continue
        with layout.locked(path) as fd:
            if fd is None:
                report.busy.append(path.name)
                continue
            if file is not None:  # pruned: its bytes were meant to go
                path.unlink()
                report.removed.append(path.name)
                continue
            try:
                target = _aside(home, path.name)
                shutil.move(path, target)  # a rename: the same file system
            except OSError as error:
                where = layout.orphans_dir(home) / path.name
                report.failed.append(f"{disk_message(error, where)}; {path.name} left in place")
                continue
            report.strays.append(target)
    for name, file in known.items():
        if file.closed_at is not None or file.pruned_at is not None:
            continue
        path = base / name
        if not path.exists():
            report.damaged.append(name)
            continue
        with layout.locked(path) as fd:
            if fd is None:
                report.busy.append(name)
                continue
            end = committed_end(store, name)
            size = os.fstat(fd).st_size
            if size < end:
                report.damaged.append(name)
                continue
            if size > end:
                tail = f"{Path(name).name.removesuffix(layout.WARC_SUFFIX)}-from-{end}"
                try:
                    target = _aside(home, tail + layout.WARC_SUFFIX)
                    _copy_tail(path, end, target)
                except OSError as error:  # nothing half-written; the file stays as it was
                    where = layout.orphans_dir(home) / (tail + layout.WARC_SUFFIX)
                    report.failed.append(
                        f"{disk_message(error, where)}; {name} left as it was, to recover later"
                    )
                    continue
                os.ftruncate(fd, end)
                os.fsync(fd)
                report.tails.append((name, size - end, target))
            size, sha = _sha256_of(path)
            try:
                store.close_evidence_file(name, size=size, sha256=sha, at=at)
            except StoreError as error:
                report.failed.append(f"cannot close {name} in the store: {error}")
                continue
            report.closed.append(name)
    if report.strays or report.removed:
        layout.fsync_dir(folder)
    return report
