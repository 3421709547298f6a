"""The writer a run uses: each probe's records go to disk first, then the probe goes to the store.

The order of writes is what makes a crash harmless (``docs/evidence.md``):

1. while the probe runs, its exchanges become WARC records in memory (gzip members);
2. when it ends, a ``metadata`` record with its outcome closes them, and all are appended to the
   current file at once, then flushed and fsynced;
3. one database transaction stores the probe, its records' rows and its ledger entry.

A process killed before 3 leaves records after the file's last stored probe: recovery moves them
aside and closes the file on the next start. A probe the store refuses (its period already has
one) has its records cut off the file again. A file is closed (size and SHA-256 stored) when it
grows past ``max_file_bytes`` and when the run ends; a new run always starts a new file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import secrets
import socket
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Self

from guichets import __version__
from guichets.clock import Clock, SimulatedClock, SystemClock
from guichets.evidence import layout
from guichets.evidence.recovery import Recovery, recover
from guichets.evidence.warc import BuiltRecord, exchange_records, metadata_record, warcinfo_record
from guichets.http import Exchange
from guichets.model import PARIS, Observation
from guichets.resilience import DiskFull, disk_message
from guichets.store import EvidenceFile, EvidenceRecord, Origin, Store

__all__ = ["EvidenceArchive", "ProbeRecorder", "clock_kind", "software"]

MAX_FILE_BYTES = 256 * 1024 * 1024


def software() -> str:
    """What wrote the evidence, for the warcinfo record and the method note."""
    return (
        f"guichets {__version__}; warcio {metadata.version('warcio')}; "
        f"Python {platform.python_version()}; {platform.system()} {platform.release()}"
    )


def clock_kind(clock: Clock) -> str:
    """Where the archive's dates come from."""
    if isinstance(clock, SystemClock):
        return "system"
    if isinstance(clock, SimulatedClock):
        return "simulated"
    return type(clock).__name__


_SOURCES: dict[str, str | None] = {}


def robot_address(remote: str | None) -> str | None:
    """The robot's own IP address towards ``remote``, as this machine knows it (before any
    address translation on the way). A UDP ``connect`` sends nothing; it only asks the routing
    table which source address the kernel would use."""
    if not remote:
        return None
    if remote not in _SOURCES:
        family = socket.AF_INET6 if ":" in remote else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((remote, 9))
                _SOURCES[remote] = str(probe.getsockname()[0])
        except OSError:
            _SOURCES[remote] = None
    return _SOURCES[remote]


class ProbeRecorder:
    """Collects one probe's records as its exchanges happen; pass :meth:`on_exchange` as the
    probe's ``on_exchange`` hook."""

    def __init__(self, probe_id: str, service: str) -> None:
        self.probe_id = probe_id
        self.service = service
        self.records: list[BuiltRecord] = []
        self.robot_ips: set[str] = set()

    def on_exchange(self, exchange: Exchange) -> None:
        robot_ip = robot_address(exchange.remote)
        if robot_ip:
            self.robot_ips.add(robot_ip)
        self.records += exchange_records(
            exchange, probe_id=self.probe_id, service=self.service, robot_ip=robot_ip
        )

    def closing_record(self, observation: Observation) -> BuiltRecord:
        """The probe's outcome as a ``metadata`` record: the archive alone tells what was found."""
        first = observation.first_slot
        fields = {
            "probe-id": observation.probe_id,
            "service": observation.service,
            "platform": observation.platform,
            "url": observation.url,
            "counter": observation.counter or "",
            "outcome": str(observation.outcome),
            "detail": observation.detail,
            "category": "" if observation.category is None else str(observation.category),
            "first-slot": "" if first is None else first.astimezone(PARIS).isoformat(),
            "slots-seen": str(len(observation.slots)),
            "started-at": observation.started_at.isoformat(),
            "finished-at": observation.finished_at.isoformat(),
            "requests": str(observation.requests),
            "message": observation.message,
            "robot-ip": ", ".join(sorted(self.robot_ips)),
            "records": " ".join(r.record_id for r in self.records),
        }
        if observation.assisted:  # a person answered the captcha: say whose attempt it was
            fields["assisted"] = "true"
            fields["person"] = observation.person or ""
            fields["attempt"] = observation.extra.get("attempt", "")
        return metadata_record(
            observation.url,
            fields,
            at=observation.finished_at,
            probe_id=observation.probe_id,
            service=observation.service,
        )


class _OpenFile:
    def __init__(self, name: str, path: Path, fd: int, size: int, digest: hashlib._Hash) -> None:
        self.name, self.path, self.fd, self.size, self.digest = name, path, fd, size, digest


class EvidenceArchive:
    """Rotating WARC files under ``HOME/evidence/warc``, and the probes' commits to the store."""

    def __init__(
        self,
        home: Path,
        store: Store,
        clock: Clock,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
        info: Mapping[str, str] | None = None,
        worker: str | None = None,
    ) -> None:
        self.home = Path(home)
        # A worker writes in its own folder under a root every machine shares (docs/evidence.md)
        self.worker = worker
        self.prefix = layout.worker_prefix(worker)
        self.folder = (
            layout.warc_dir(self.home) / self.prefix
            if self.prefix
            else (layout.warc_dir(self.home))
        )
        self.store = store
        self.clock = clock
        self.max_file_bytes = max_file_bytes
        self.info = dict(info or {})
        self.recovery: Recovery | None = None
        self._file: _OpenFile | None = None
        self.bytes_written = 0
        self._abandoned = False  # a file was left after a failed write or save
        self.recovered: list[Recovery] = []  # recoveries made during the run, after such a failure

    # -- life -----------------------------------------------------------------------------------

    def open(self) -> Recovery:
        """Create the folders and recover what a killed run left; the first probe opens a file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recovery = recover(self.home, self.store, now=self.clock.now(), worker=self.worker)
        return self.recovery

    def close(self) -> None:
        """Close the current file: its size and SHA-256 are stored."""
        current, self._file = self._file, None
        if current is None:
            return
        try:
            os.fsync(current.fd)
            self.store.close_evidence_file(
                current.name,
                size=current.size,
                sha256=current.digest.hexdigest(),
                at=self.clock.now(),
            )
        finally:
            os.close(current.fd)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- probes ---------------------------------------------------------------------------------

    def recorder(self, probe_id: str, service: str) -> ProbeRecorder:
        return ProbeRecorder(probe_id, service)

    def commit(
        self,
        recorder: ProbeRecorder,
        observation: Observation,
        *,
        run_id: str | None = None,
        period_key: str | None = None,
        scheduled_for: datetime | None = None,
        robots_override: str | None = None,
        origin: Origin | None = None,
    ) -> bool:
        """Write the probe's records (fsynced), then store the probe with their digests.

        Returns False when the store refused the probe (its period already has one): its records
        are cut off the file again, so no record is left without its probe.
        """
        built = [*recorder.records, recorder.closing_record(observation)]
        blob = b"".join(record.member for record in built)
        current, position = self._append(blob)
        rows, offset = [], position
        for ordinal, record in enumerate(built):
            size = len(record.member)
            rows.append(
                EvidenceRecord(
                    record_id=record.record_id, probe_id=observation.probe_id, ordinal=ordinal,
                    kind=record.kind, uri=record.uri, status=record.status, sha256=record.sha256,
                    file=current.name, position=offset, size=size,
                )
            )  # fmt: skip
            offset += size
        try:
            stored = self.store.save_with_evidence(
                observation,
                rows,
                run_id=run_id,
                period_key=period_key,
                scheduled_for=scheduled_for,
                robots_override=robots_override,
                origin=origin,
            )
        except BaseException:
            # Whether the transaction committed is unknown: keep the bytes, leave the file to
            # recovery (which compares it with the store), and write on in a new file.
            self._abandon()
            raise
        if not stored:
            self._truncate(current, position)
        else:
            self.bytes_written += len(blob)
        if self._abandoned:
            # The store answers again (a retried save went through): what the failed attempt
            # left in the abandoned file can now be told apart and moved aside, as a restart would.
            self._abandoned = False
            self.recovered.append(recover(self.home, self.store, now=self.clock.now()))
        return stored

    # -- files ----------------------------------------------------------------------------------

    def _append(self, blob: bytes) -> tuple[_OpenFile, int]:
        current = self._file
        if current is not None and current.size + len(blob) > self.max_file_bytes:
            self.close()
            current = None
        if current is None:
            current = self._file = self._new_file()
        position = current.size
        try:
            layout.write_all(current.fd, blob)
            os.fsync(current.fd)
        except OSError as error:  # a full disk, say: cut what was written, name the file
            with contextlib.suppress(OSError):  # truncating frees space: it works on a full disk
                os.ftruncate(current.fd, position)
                os.fsync(current.fd)
            self._abandon()  # recovery checks the file against the store all the same
            raise DiskFull(error.errno, disk_message(error, current.path)) from error
        except BaseException:  # what was written is unknown; recovery knows
            self._abandon()
            raise
        current.size += len(blob)
        current.digest.update(blob)
        return current, position

    def _new_file(self) -> _OpenFile:
        now = self.clock.now()
        base = f"guichets-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}{layout.WARC_SUFFIX}"
        path = self.folder / base
        name = self.prefix + base
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as error:
            raise DiskFull(error.errno, disk_message(error, path)) from error
        closed = False
        try:
            layout.try_lock(fd)  # a new file: nobody else can hold it
            host = socket.gethostname()
            fields = {
                "software": software(),
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                "warc-format/warc-1.1/",
                "hostname": host,
                "clock": clock_kind(self.clock),
                "description": "guichets probes: every request and response as sent and "
                "received, one gzip member per record; SHA-256 digests",
                **self.info,
            }
            info = warcinfo_record(base, fields, at=now)
            try:
                layout.write_all(fd, info.member)
                os.fsync(fd)
                layout.fsync_dir(self.folder)
            except OSError as error:  # nothing refers to the file yet: it goes, not half-written
                os.close(fd)
                with contextlib.suppress(OSError):
                    path.unlink()
                closed = True
                raise DiskFull(error.errno, disk_message(error, path)) from error
            file = EvidenceFile(
                name=name, created_at=now, hostname=host, software=software(),
                clock=clock_kind(self.clock),
            )  # fmt: skip
            self.store.add_evidence_file(
                file,
                EvidenceRecord(
                    record_id=info.record_id, probe_id=None, ordinal=0, kind=info.kind,
                    uri=info.uri, status=None, sha256=info.sha256, file=name, position=0,
                    size=len(info.member),
                ),
            )  # fmt: skip
        except BaseException:
            if not closed:
                os.close(fd)
            raise
        digest = hashlib.sha256(info.member)
        return _OpenFile(name, path, fd, len(info.member), digest)

    def _truncate(self, current: _OpenFile, position: int) -> None:
        os.ftruncate(current.fd, position)
        os.fsync(current.fd)
        current.size = position
        current.digest = hashlib.sha256(current.path.read_bytes())

    def _abandon(self) -> None:
        self._abandoned = True
        current, self._file = self._file, None
        if current is not None:
            os.close(current.fd)  # releases the lock: recovery may take the file over
