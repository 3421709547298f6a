"""``guichets evidence verify``: recompute every digest and name what does not match.

Checked, from the store and the files, nothing trusted that can be recomputed:

* each service's chain: entries numbered 1, 2, 3... without a gap, each entry's digest recomputed
  from the one before it, and the last one equal to the service's head;
* each probe: its row, as stored now, against the digest its entry committed to; a probe without
  an entry; an entry without its probe;
* each probe's records: their rows against the entry's records digest;
* each WARC file: its SHA-256 against the one stored when it was closed; every record read back,
  its SHA-256 recomputed and matched to its row by WARC-Record-ID; records missing from the file,
  and records in the file that belong to no stored probe; bytes a killed run left after the last
  stored record. Records and files pruned by retention keep their rows and digests: the chain
  still verifies, their bytes are not looked for;
* record rows whose probe is neither stored nor in the ledger (a probe and its entry deleted, the
  head moved back: the chain alone would not show it).

What verify cannot see: a rewrite that is consistent everywhere (rows, ledger, heads and WARC
files all recomputed by someone with write access). Only chain heads published elsewhere, before
the rewrite, catch that: ``guichets evidence heads`` prints them to publish (docs/evidence.md).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from guichets.evidence import layout
from guichets.evidence.warc import PROBE_HEADER, SERVICE_HEADER, _header, iter_members
from guichets.store import EvidenceFile, EvidenceRecord, LedgerEntry, Store
from guichets.store.ledger import GENESIS, entry_digest, records_digest

__all__ = ["Problem", "Verification", "verify"]


@dataclass(frozen=True)
class Problem:
    """One thing that does not match: what (``probe``, ``file``, ``record``, ``service``),
    which one, and a sentence saying what was expected."""

    kind: str
    name: str
    text: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.text}"


@dataclass
class Verification:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    services: int = 0
    probes: int = 0
    records: int = 0
    files: int = 0
    bytes: int = 0
    pruned_records: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, kind: str, name: str, text: str) -> None:
        self.problems.append(Problem(kind, name, text))

    def summary(self) -> str:
        pruned = f", {self.pruned_records} pruned by retention" if self.pruned_records else ""
        return (
            f"{self.probes} probes of {self.services} services, {self.records} records"
            f"{pruned}, {self.files} WARC files ({self.bytes / 1e6:.1f} MB)"
        )


def _chains(
    result: Verification,
    entries: list[LedgerEntry],
    heads: dict[str, tuple[int, str]],
    digests: dict[str, tuple[str, str]],
    only: str | None,
) -> None:
    by_service: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_service[entry.service].append(entry)
    services = set(by_service) | ({s for s in heads if s == only} if only else set(heads))
    result.services = len(services)
    for service in sorted(services):
        chain = by_service.get(service, [])
        previous, expected = GENESIS, 1
        for entry in chain:
            if entry.seq != expected:
                result.add(
                    "service",
                    service,
                    f"ledger entries {expected} to {entry.seq - 1} are missing (the chain jumps "
                    f"from {expected - 1} to {entry.seq}): probes were removed from the ledger",
                )
            recomputed = entry_digest(
                previous, service=service, seq=entry.seq, probe_id=entry.probe_id,
                probe_sha256=entry.probe_sha256, records=entry.records,
                records_sha256=entry.records_sha256,
            )  # fmt: skip
            if recomputed != entry.entry_sha256:
                result.add(
                    "probe",
                    entry.probe_id,
                    f"ledger entry {entry.seq} of {service} does not follow from the entry before "
                    "it: this entry, or one before it, was altered, inserted or removed",
                )
            found = digests.get(entry.probe_id)
            if found is None:
                result.add(
                    "probe",
                    entry.probe_id,
                    f"in the ledger ({service}, entry {entry.seq}) but not in the database: "
                    "its row was deleted",
                )
            elif found != (service, entry.probe_sha256):
                result.add(
                    "probe",
                    entry.probe_id,
                    f"its row ({service}, ledger entry {entry.seq}) is not what was stored: "
                    "it was edited after the probe",
                )
            previous, expected = entry.entry_sha256, entry.seq + 1
        head = heads.get(service)
        last = (chain[-1].seq, chain[-1].entry_sha256) if chain else None
        if head != last:
            said = "none" if head is None else f"entry {head[0]}"
            ends = "no entry" if last is None else f"entry {last[0]}"
            result.add(
                "service",
                service,
                f"the chain's head says {said} but the ledger ends at {ends}: the newest entries "
                "were removed, or the head was altered",
            )


def _probe_records(
    result: Verification, entries: list[LedgerEntry], records: list[EvidenceRecord]
) -> None:
    by_probe: dict[str, list[EvidenceRecord]] = defaultdict(list)
    for record in records:
        if record.probe_id is not None:
            by_probe[record.probe_id].append(record)
    for entry in entries:
        rows = sorted(by_probe.get(entry.probe_id, []), key=lambda r: r.ordinal)
        digest = records_digest((r.record_id, r.sha256) for r in rows)
        if len(rows) != entry.records or digest != entry.records_sha256:
            result.add(
                "probe",
                entry.probe_id,
                f"its record rows ({len(rows)}) are not the {entry.records} its ledger entry "
                "committed to: a record row was removed, added or changed",
            )


def _files(
    result: Verification,
    home: Path,
    files: list[EvidenceFile],
    records: list[EvidenceRecord],
    known_probes: set[str],
) -> None:
    folder = layout.warc_dir(home)
    by_file: dict[str, list[EvidenceRecord]] = defaultdict(list)
    for record in records:
        by_file[record.file].append(record)
    for file in files:
        rows = [r for r in by_file.get(file.name, []) if r.pruned_at is None]
        path = folder / file.name
        if file.pruned_at is not None:
            if rows:
                result.add(
                    "file",
                    file.name,
                    f"pruned by retention, yet {len(rows)} records are said to be in it",
                )
            continue
        if not path.exists():
            probes = sorted({r.probe_id for r in rows if r.probe_id})
            result.add(
                "file",
                file.name,
                f"missing from {folder}: the records of {len(probes)} probes were in it"
                + (f" ({', '.join(probes[:5])}{'…' if len(probes) > 5 else ''})" if probes else ""),
            )
            continue
        _file(result, path, file, rows, known_probes)


def _file(
    result: Verification,
    path: Path,
    file: EvidenceFile,
    rows: list[EvidenceRecord],
    known_probes: set[str],
) -> None:
    blob = path.read_bytes()
    result.files += 1
    result.bytes += len(blob)
    name = file.name
    ends = (r.position + r.size for r in rows if r.position is not None and r.size is not None)
    stored_end = max(ends, default=0)
    scan = blob
    changed = False
    if file.closed_at is not None:
        sha = hashlib.sha256(blob).hexdigest()
        if len(blob) != file.size or sha != file.sha256:
            changed = True
            result.add(
                "file",
                name,
                f"its SHA-256 is {sha[:16]}… ({len(blob)} bytes), not the {str(file.sha256)[:16]}… "
                f"({file.size} bytes) stored when it was closed: the file was changed",
            )
    elif layout.is_live(path):
        scan = blob[:stored_end]  # a run is writing it: what follows is not stored yet
        result.notes.append(f"{name} is being written by a live run; its stored part was checked")
    elif len(blob) > stored_end:
        result.add(
            "file",
            name,
            f"{len(blob) - stored_end} bytes after its last stored record: a killed run's unstored "
            "probe; `guichets evidence recover` (or the next run) moves them aside",
        )
        scan = blob[:stored_end]
    by_id = {r.record_id: r for r in rows}
    by_position = {r.position: r for r in rows if r.position is not None}
    sizes = {r.position: r.size for r in rows if r.position is not None and r.size is not None}
    seen: set[str] = set()
    named = 0
    for member in iter_members(scan, sizes):
        if member.data is None:
            row = by_position.get(member.position)
            whose = f" (record {row.record_id} of probe {row.probe_id})" if row else ""
            if row is not None:
                seen.add(row.record_id)  # damaged, said here; not missing as well
            result.add(
                "file", name, f"unreadable bytes at offset {member.position}{whose}: {member.error}"
            )
            named += 1
            continue
        record_id = member.record_id or "?"
        row = by_id.get(record_id)
        if row is None:
            probe = _header(member.data, PROBE_HEADER)
            service = _header(member.data, SERVICE_HEADER)
            absent = probe is not None and probe not in known_probes
            result.add(
                "record" if probe is None else "probe",
                record_id if probe is None else probe,
                f"record {record_id} at offset {member.position} of {name}"
                + (f" ({service})" if service else "")
                + " has no row in the database"
                + (": its probe is not in the database (deleted?)" if absent else ""),
            )
            named += 1
            continue
        seen.add(record_id)
        if member.sha256 != row.sha256:
            result.add(
                "probe" if row.probe_id else "file",
                row.probe_id or name,
                f"record {record_id} ({row.kind} {row.uri}) in {name} at offset {member.position} "
                "differs from its stored SHA-256: its content was changed",
            )
            named += 1
        result.records += 1
    for row in rows:
        if row.record_id not in seen:
            result.add(
                "probe" if row.probe_id else "file",
                row.probe_id or name,
                f"record {row.record_id} ({row.kind} {row.uri}) is missing from {name}: "
                "it was removed from the file",
            )
            named += 1
    if changed and not named:
        result.notes.append(
            f"{name}: every record still matches its digest; the change is in the gzip framing"
        )


def verify(home: Path, store: Store, *, service: str | None = None) -> Verification:
    """Recompute everything about the evidence (of one service, or all) and say what broke."""
    result = Verification()
    entries = store.ledger(service=service)
    heads = store.ledger_heads()
    if service is not None:
        heads = {s: h for s, h in heads.items() if s == service}
    digests = {pid: (svc, sha) for pid, svc, sha in store.probe_digests(service=service)}
    result.probes = len(digests)
    in_ledger = {e.probe_id for e in entries}
    for probe_id in sorted(set(digests) - in_ledger):
        result.add(
            "probe",
            probe_id,
            f"stored ({digests[probe_id][0]}) but not in the ledger: stored without evidence "
            "(--no-evidence) or inserted afterwards",
        )
    _chains(result, entries, heads, digests, service)
    all_records = store.evidence_records()
    mine = in_ledger | set(digests)
    if service is None:
        records, files = all_records, store.evidence_files()
    else:
        names = {r.file for r in all_records if r.probe_id in mine}
        records = [r for r in all_records if r.file in names]
        files = [f for f in store.evidence_files() if f.name in names]
    result.pruned_records = sum(
        1 for r in records if r.pruned_at is not None and (service is None or r.probe_id in mine)
    )
    _probe_records(result, entries, [r for r in records if r.probe_id in in_ledger])
    if service is None:  # a service's verify cannot tell another service's probes from orphans
        _orphan_records(result, records, mine)
    known = (
        set(digests)
        if service is None
        else set(digests) | {r.probe_id for r in all_records if r.probe_id is not None}
    )
    _files(result, home, files, records, known)
    _strays(result, home, store.evidence_files() if service is not None else files)
    return result


def _orphan_records(result: Verification, records: list[EvidenceRecord], probes: set[str]) -> None:
    """Record rows of a probe that is neither stored nor in the ledger. A probe, its records and
    its entry are saved in one transaction, so this is what deleting a probe and its ledger
    entry (and moving the head back) leaves: the chain alone would still verify."""
    orphans: dict[str, list[EvidenceRecord]] = defaultdict(list)
    for record in records:
        if record.probe_id is not None and record.probe_id not in probes:
            orphans[record.probe_id].append(record)
    for probe_id, rows in sorted(orphans.items()):
        files = sorted({r.file for r in rows})
        result.add(
            "probe",
            probe_id,
            f"{len(rows)} record rows (in {', '.join(files)}) belong to this probe, which is "
            "neither in the database nor in the ledger: the probe and its ledger entry were "
            "deleted",
        )


def _strays(result: Verification, home: Path, files: Iterable[EvidenceFile]) -> None:
    names = {f.name for f in files}
    for name, path in layout.warc_files(home):
        if name not in names and not layout.is_live(path):
            result.add(
                "file",
                name,
                "in the evidence folder but not in the database: a killed run's new file, or "
                "a file put there; `guichets evidence recover` moves it aside",
            )
    orphans = layout.orphans_dir(home)
    if orphans.is_dir():
        moved = sorted(orphans.iterdir())
        if moved:
            result.notes.append(
                f"{len(moved)} files in {orphans}: records of unstored probes moved aside after "
                "interrupted runs (kept, not evidence)"
            )
