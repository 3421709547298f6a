"""Retention: drop raw records older than N months, keep every digest, the ledger and the figures.

Raw exchanges weigh far more than the probes, and old ones are rarely looked at. ``thin`` keeps,
for each old probe, the page its screenshot shows (with its request) and the probe's closing
``metadata`` record, and drops the rest (robots.txt, the steps before); ``remove`` drops all its
records. Probes, their ledger entries and every record's row and SHA-256 stay, so the chain still
verifies and the figures do not move; only the bytes of the dropped records are gone, and
``verify`` stops looking for them.

A file is never edited in place: the records it keeps are copied, byte for byte (one gzip member
each), into a new file, written and fsynced first; one transaction then moves their rows to it,
marks the dropped records and the old file as pruned (its digest stays), and only then is the old
file deleted. A crash before the transaction leaves a new file the store does not know (recovery
moves it aside); after it, an old file the store calls pruned (recovery deletes it). Files still
being written are left alone.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from guichets.evidence import layout
from guichets.evidence.screenshot import ScreenshotError, load_probe
from guichets.model import MONTH
from guichets.store import EvidenceFile, EvidenceRecord, Store

__all__ = ["Mode", "Pruning", "cutoff", "prune"]


class Mode(StrEnum):
    THIN = "thin"  # keep the page shown, its request and the probe's outcome record
    REMOVE = "remove"  # keep no record of the probe (digests only)


@dataclass
class Pruning:
    before: datetime
    probes: int = 0
    records: int = 0
    bytes_freed: int = 0
    files_removed: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)


def cutoff(months: int, now: datetime) -> datetime:
    """The instant before which probes are old: ``months`` months of 30 days before ``now``."""
    if months < 0:
        raise ValueError(f"--older-than-months {months}: give a number of months, 0 or more")
    return now - months * MONTH


def _kept_when_thinning(
    home: Path, store: Store, probe_id: str, rows: list[EvidenceRecord]
) -> set[str]:
    """The record ids thinning keeps: the page a screenshot shows, its request, the outcome."""
    keep = {r.record_id for r in rows if r.kind == "metadata" and r.ordinal == len(rows) - 1}
    try:
        page = load_probe(home, store, probe_id).page
    except ScreenshotError:
        return keep
    if page is not None:
        keep.add(page.row.record_id)
        request = next(
            (r for r in rows if r.ordinal == page.row.ordinal - 1 and r.kind == "request"), None
        )
        if request is not None:
            keep.add(request.record_id)
    return keep


def prune(
    home: Path,
    store: Store,
    *,
    before: datetime,
    mode: Mode = Mode.THIN,
    now: datetime | None = None,
) -> Pruning:
    """Drop the raw records of probes started before ``before``; see the module's docstring."""
    at = now or datetime.now(UTC)
    result = Pruning(before)
    old = [o.probe_id for o in store.observations(until=before)]
    if not old:
        return result
    files = {f.name: f for f in store.evidence_files()}
    by_probe: dict[str, list[EvidenceRecord]] = defaultdict(list)
    for row in store.evidence_records(probe_ids=old):
        if row.position is not None:
            by_probe[row.probe_id or ""].append(row)
    drop: dict[str, set[str]] = defaultdict(set)  # file -> record ids to drop
    for probe_id, rows in by_probe.items():
        keep = _kept_when_thinning(home, store, probe_id, rows) if mode is Mode.THIN else set()
        for row in rows:
            file = files[row.file]
            if file.closed_at is None:
                if row.file not in result.skipped_live:
                    result.skipped_live.append(row.file)
                continue
            if row.record_id not in keep:
                drop[row.file].add(row.record_id)
    folder = layout.warc_dir(home)
    pruned: list[str] = []
    moved: list[tuple[str, str, int, int]] = []
    written: list[tuple[EvidenceFile, int]] = []
    retired: list[str] = []
    try:
        for name, dropped in sorted(drop.items()):
            rows = [r for r in store.evidence_records(file=name) if r.position is not None]
            kept = [r for r in rows if r.record_id not in dropped]
            pruned += [r.record_id for r in rows if r.record_id in dropped]
            result.bytes_freed += sum(r.size or 0 for r in rows if r.record_id in dropped)
            retired.append(name)
            if all(r.probe_id is None for r in kept):  # nothing but its warcinfo is left
                pruned += [r.record_id for r in kept]
                continue
            new, fd, positions = _copy(folder, files[name], kept, at)
            written.append((new, fd))
            moved += [
                (r.record_id, new.name, p, r.size or 0)
                for r, p in zip(kept, positions, strict=True)
            ]
        result.probes = len(by_probe)
        result.records = len(pruned)
        store.retire_evidence(
            at=at,
            pruned=pruned,
            moved=moved,
            new_files=[f for f, _ in written],
            retired_files=retired,
        )
    finally:
        for _, fd in written:
            os.close(fd)  # release the lock: the file is the store's now (or a stray)
    for name in retired:
        (folder / name).unlink(missing_ok=True)
    layout.fsync_dir(folder)
    result.files_removed = retired
    result.files_written = [f.name for f, _ in written]
    return result


def _copy(
    folder: Path, old: EvidenceFile, kept: list[EvidenceRecord], at: datetime
) -> tuple[EvidenceFile, int, list[int]]:
    """Copy ``kept`` records of ``old`` into a new locked file; returns it open (its lock held)."""
    stem = old.name.removesuffix(layout.WARC_SUFFIX)
    name = f"{stem}-kept-{at:%Y%m%dT%H%M%SZ}{layout.WARC_SUFFIX}"
    source = folder / old.name
    digest = hashlib.sha256()
    positions: list[int] = []
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    layout.try_lock(fd)
    size = 0
    with source.open("rb") as handle:
        for record in kept:
            handle.seek(record.position or 0)
            member = handle.read(record.size or 0)
            positions.append(size)
            layout.write_all(fd, member)
            digest.update(member)
            size += len(member)
    os.fsync(fd)
    layout.fsync_dir(folder)
    new = EvidenceFile(
        name=name,
        created_at=at,
        hostname=old.hostname,
        software=old.software,
        clock=old.clock,
        closed_at=at,
        size=size,
        sha256=digest.hexdigest(),
    )
    return new, fd, positions
