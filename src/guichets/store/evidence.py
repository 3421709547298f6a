"""The evidence's rows: the WARC files and records of every probe, and the ledger, a hash chain
per service written in the probe's own transaction (``docs/evidence.md``); the digests are in
``ledger.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Connection,
    select,
    update,
)

from guichets.model import Observation
from guichets.store.engine import _aware
from guichets.store.ledger import GENESIS, entry_digest, probe_digest, records_digest
from guichets.store.probes import Origin, Probes, _origin_values
from guichets.store.readings import PAGE
from guichets.store.schema import (
    evidence_files,
    evidence_heads,
    evidence_ledger,
    evidence_records,
    kept_pages,
    probes,
)


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A WARC file of the evidence (``evidence_files``): digest and size once closed."""

    name: str
    created_at: datetime
    hostname: str
    software: str
    clock: str
    closed_at: datetime | None = None
    size: int | None = None
    sha256: str | None = None
    pruned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """A WARC record (``evidence_records``): whose, what, its digest and where its bytes are."""

    record_id: str
    probe_id: str | None
    ordinal: int
    kind: str
    uri: str
    status: int | None
    sha256: str
    file: str
    position: int | None
    size: int | None
    pruned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A probe's entry in its service's hash chain (``evidence_ledger``)."""

    probe_id: str
    service: str
    seq: int
    records: int
    records_sha256: str
    probe_sha256: str
    entry_sha256: str


_IN_CHUNK: Final = 500  # ids per IN (...) list


class Evidence(Probes):
    """WARC files, records and the ledger (a probe and its evidence are saved together)."""

    def save_with_evidence(
        self,
        observation: Observation,
        records: Sequence[EvidenceRecord],
        *,
        run_id: str | None = None,
        period_key: str | None = None,
        scheduled_for: datetime | None = None,
        robots_override: str | None = None,
        origin: Origin | None = None,
    ) -> bool:
        """Store one probe, its WARC records' rows and its ledger entry in one transaction.

        The records' bytes must already be in their file (flushed to disk): a probe never exists
        without its records. Returns False, storing nothing, like :meth:`save`.
        """
        row = self._probe_row(observation, run_id, period_key, scheduled_for, robots_override)
        row.update(_origin_values(origin))

        def chain(conn: Connection, stored: dict[str, Any]) -> None:
            if records:
                conn.execute(evidence_records.insert(), [_record_values(r) for r in records])
            service = observation.service
            head = conn.execute(
                select(evidence_heads.c.seq, evidence_heads.c.entry_sha256)
                .where(evidence_heads.c.service == service)
                .with_for_update()
            ).first()
            seq, previous = (1, GENESIS) if head is None else (head.seq + 1, head.entry_sha256)
            probe_sha = probe_digest(stored, observation.kept_page)
            records_sha = records_digest((r.record_id, r.sha256) for r in records)
            entry = entry_digest(
                previous, service=service, seq=seq, probe_id=observation.probe_id,
                probe_sha256=probe_sha, records=len(records), records_sha256=records_sha,
            )  # fmt: skip
            conn.execute(
                evidence_ledger.insert().values(
                    probe_id=observation.probe_id, service=service, seq=seq, records=len(records),
                    records_sha256=records_sha, probe_sha256=probe_sha, entry_sha256=entry,
                )
            )  # fmt: skip
            if head is None:
                conn.execute(
                    evidence_heads.insert().values(service=service, seq=seq, entry_sha256=entry)
                )
            else:
                conn.execute(
                    update(evidence_heads)
                    .where(evidence_heads.c.service == service)
                    .values(seq=seq, entry_sha256=entry)
                )

        return self._save(observation, row, chain)

    def add_evidence_file(self, file: EvidenceFile, warcinfo: EvidenceRecord) -> None:
        """Record a new WARC file and its first record (warcinfo), already on disk."""
        _aware("created_at", file.created_at)
        with self._writing("record an evidence file") as conn:
            conn.execute(evidence_files.insert().values(**_file_values(file)))
            conn.execute(evidence_records.insert().values(**_record_values(warcinfo)))

    def close_evidence_file(self, name: str, *, size: int, sha256: str, at: datetime) -> None:
        """Record that a WARC file is complete: its size and SHA-256 are final."""
        _aware("at", at)
        with self._writing("close an evidence file") as conn:
            conn.execute(
                update(evidence_files)
                .where(evidence_files.c.name == name)
                .values(closed_at=at, size=size, sha256=sha256)
            )

    def retire_evidence(
        self,
        *,
        at: datetime,
        pruned: Collection[str] = (),
        moved: Sequence[tuple[str, str, int, int]] = (),
        new_files: Sequence[EvidenceFile] = (),
        retired_files: Collection[str] = (),
    ) -> None:
        """Retention, in one transaction: records whose bytes are dropped (their rows and digests
        stay), records copied into a new file ``(record_id, file, position, size)``, new files
        already on disk, and files whose bytes are gone (their digests stay)."""
        _aware("at", at)
        with self._writing("retire evidence") as conn:
            for file in new_files:
                conn.execute(evidence_files.insert().values(**_file_values(file)))
            for record_id, file_name, position, size in moved:
                conn.execute(
                    update(evidence_records)
                    .where(evidence_records.c.record_id == record_id)
                    .values(file=file_name, position=position, size=size)
                )
            ids = list(pruned)
            for start in range(0, len(ids), _IN_CHUNK):
                conn.execute(
                    update(evidence_records)
                    .where(evidence_records.c.record_id.in_(ids[start : start + _IN_CHUNK]))
                    .values(position=None, size=None, pruned_at=at)
                )
            if retired_files:
                conn.execute(
                    update(evidence_files)
                    .where(evidence_files.c.name.in_(list(retired_files)))
                    .values(pruned_at=at)
                )

    def evidence_files(self) -> list[EvidenceFile]:
        """Every WARC file ever recorded, oldest first (pruned ones included)."""
        query = select(evidence_files).order_by(evidence_files.c.created_at, evidence_files.c.name)
        with self._guard("read evidence files"), self._connect() as conn:
            return [EvidenceFile(**row._mapping) for row in conn.execute(query)]

    def evidence_records(
        self, *, file: str | None = None, probe_ids: Collection[str] | None = None
    ) -> list[EvidenceRecord]:
        """Record rows of one file (by position) or of some probes (by probe, then order);
        every record without either."""
        order = [evidence_records.c.file, evidence_records.c.position]
        base = select(evidence_records)
        if file is not None:
            base = base.where(evidence_records.c.file == file)
        if probe_ids is None:
            with self._guard("read evidence records"), self._connect() as conn:
                return [_record(row) for row in conn.execute(base.order_by(*order))]
        ids = list(probe_ids)
        found: list[EvidenceRecord] = []
        with self._guard("read evidence records"), self._connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = base.where(evidence_records.c.probe_id.in_(ids[start : start + _IN_CHUNK]))
                found += [_record(row) for row in conn.execute(chunk)]
        return sorted(found, key=lambda r: (r.probe_id or "", r.ordinal))

    def ledger(
        self, *, service: str | None = None, probe_ids: Collection[str] | None = None
    ) -> list[LedgerEntry]:
        """Ledger entries (of a service, of some probes) by service, then sequence number."""
        query = select(evidence_ledger).order_by(evidence_ledger.c.service, evidence_ledger.c.seq)
        if service is not None:
            query = query.where(evidence_ledger.c.service == service)
        ids = None if probe_ids is None else list(probe_ids)
        with self._guard("read the ledger"), self._connect() as conn:
            if ids is None:
                return [LedgerEntry(**row._mapping) for row in conn.execute(query)]
            found: list[LedgerEntry] = []
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = query.where(evidence_ledger.c.probe_id.in_(ids[start : start + _IN_CHUNK]))
                found += [LedgerEntry(**row._mapping) for row in conn.execute(chunk)]
            return sorted(found, key=lambda e: (e.service, e.seq))

    def ledger_heads(self) -> dict[str, tuple[int, str]]:
        """Each service's last ledger entry: (seq, entry_sha256)."""
        with self._guard("read the ledger heads"), self._connect() as conn:
            return {
                row.service: (row.seq, row.entry_sha256)
                for row in conn.execute(select(evidence_heads))
            }

    def probe_digests(self, *, service: str | None = None) -> Iterator[tuple[str, str, str]]:
        """``(probe_id, service, probe_sha256)`` of every stored probe, recomputed from its row
        as it is now (the ledger holds what it was when stored)."""
        query = (
            select(probes, kept_pages.c.body.label("kept_body"))
            .select_from(probes.outerjoin(kept_pages))
            .order_by(probes.c.service, probes.c.started_at, probes.c.probe_id)
        )
        if service is not None:
            query = query.where(probes.c.service == service)
        with self._guard("read probes"), self._connect() as conn:
            for row in conn.execution_options(yield_per=PAGE).execute(query):
                values = row._mapping
                body = values["kept_body"]
                yield (
                    values["probe_id"],
                    values["service"],
                    probe_digest(values, None if body is None else bytes(body)),
                )


def _file_values(file: EvidenceFile) -> dict[str, Any]:
    return {name: getattr(file, name) for name in EvidenceFile.__slots__}


def _record_values(record: EvidenceRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in EvidenceRecord.__slots__}


def _record(row: Any) -> EvidenceRecord:
    return EvidenceRecord(**row._mapping)
