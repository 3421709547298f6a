"""WARC records (ISO 28500, WARC/1.1) of a probe's exchanges, written and read with warcio.

Each record becomes one gzip member of its file, so that a record can be read, copied into a
dossier or dropped by retention on its own, and a file cut short by a crash keeps every complete
record before the cut. The HTTP messages are rebuilt from what the polite session handed over:
the request headers as sent (cookies included) and its body; the status line, the response headers
as received (order kept) and the body as received, before content decoding (gzip stays gzip).
The transfer coding is undone by the HTTP client, so a chunked body is written as one chunk.

warcio's own digests are SHA-1; every record here carries SHA-256 block and payload digests in
the standard headers instead (``sha256:`` + base32, which ``warcio check`` verifies), and its
SHA-256 as a whole (the uncompressed record, in hex) is what the ledger stores.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from yarl import URL

from guichets.http import Exchange

__all__ = [
    "GZIP_LEVEL",
    "PROBE_HEADER",
    "SERVICE_HEADER",
    "BuiltRecord",
    "Member",
    "ReadRecord",
    "exchange_records",
    "iter_members",
    "metadata_record",
    "read_record",
    "warcinfo_record",
]

WARC_VERSION = "1.1"
GZIP_LEVEL = 6  # warcio's own is 9: twice the CPU for a few per cent of bytes on HTML
# Extension fields: names outside WARC-*, which the standard reserves for itself.
PROBE_HEADER = "Guichets-Probe-Id"
SERVICE_HEADER = "Guichets-Service"
_TRUNCATED = {"too_large": "length", "timeout": "time", "network": "disconnect"}


@dataclass(frozen=True)
class BuiltRecord:
    """One record ready to append: its gzip member and what the database keeps about it."""

    record_id: str  # <urn:uuid:...>
    kind: str  # WARC-Type
    uri: str
    status: int | None
    sha256: str  # hex, of the uncompressed record
    member: bytes  # the record, gzip-compressed on its own


def _b32(digest: bytes) -> str:
    return "sha256:" + base64.b32encode(digest).decode("ascii")


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _warc_date(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _ExactHeaders(StatusAndHeaders):  # type: ignore[misc]  # warcio has no type hints
    """HTTP headers whose bytes are kept as given: warcio would re-encode them (in UTF-8)."""

    def __init__(self, statusline: str, headers: list[tuple[str, str]], raw: bytes) -> None:
        super().__init__(statusline, headers, protocol="")
        self.headers_buff = raw

    def compute_headers_buffer(self, header_filter: Any = None) -> None:
        """Keep the bytes: they are evidence."""


def _serialise(
    uri: str,
    kind: str,
    *,
    payload: bytes,
    warc_headers: Mapping[str, str],
    http_head: bytes | None = None,
    http_body: bytes = b"",
    entity: bytes | None = None,
    content_type: str = "",
) -> tuple[bytes, str]:
    """One WARC record, uncompressed, and its SHA-256 (hex). ``entity`` is the body without its
    transfer coding, which the payload digest covers (the block digest covers what is written)."""
    headers = dict(warc_headers)
    if http_head is not None:
        headers["WARC-Block-Digest"] = _b32(hashlib.sha256(http_head + http_body).digest())
        payload_bytes = http_body if entity is None else entity
        headers["WARC-Payload-Digest"] = _b32(hashlib.sha256(payload_bytes).digest())
        # Only the bytes are written: warcio need not parse them into a header list.
        http = _ExactHeaders(http_head[: http_head.find(b"\r\n")].decode("latin-1"), [], http_head)
        stream = io.BytesIO(http_body)
        length = len(http_body)
    else:
        headers["WARC-Block-Digest"] = _b32(hashlib.sha256(payload).digest())
        http = None
        stream = io.BytesIO(payload)
        length = len(payload)
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version=WARC_VERSION)
    record = writer.create_warc_record(
        uri,
        kind,
        payload=stream,
        length=length,
        warc_content_type=content_type,
        warc_headers_dict=headers,
        http_headers=http,
    )
    writer.write_record(record)
    data = out.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _built(
    record_id: str, kind: str, uri: str, status: int | None, data: bytes, sha: str
) -> BuiltRecord:
    return BuiltRecord(record_id, kind, uri, status, sha, _gzip(data))


def _head(first_line: str, headers: Sequence[tuple[str, str]], encoding: str) -> bytes:
    lines = [first_line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(encoding, errors="surrogateescape")


def _chunked(headers: Sequence[tuple[str, str]]) -> bool:
    return any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)


def exchange_records(
    exchange: Exchange, *, probe_id: str, service: str, robot_ip: str | None = None
) -> list[BuiltRecord]:
    """The request record, then the response record (or a metadata record saying why none came).

    ``robot_ip`` is the robot's own address towards the server as the machine knows it (before
    any address translation); it goes in the records' ``Guichets-Robot-IP`` field.
    """
    tags = {PROBE_HEADER: probe_id, SERVICE_HEADER: service}
    if robot_ip:
        tags["Guichets-Robot-IP"] = robot_ip
    date = _warc_date(exchange.started_at)
    url = URL(exchange.url)
    request_id, response_id = _record_id(), _record_id()
    request_head = _head(
        f"{exchange.method} {url.raw_path_qs or '/'} HTTP/1.1", exchange.request_headers, "utf-8"
    )
    common = {"WARC-Date": date, **tags}
    if exchange.remote:
        common["WARC-IP-Address"] = exchange.remote
    request_data, request_sha = _serialise(
        exchange.url,
        "request",
        payload=b"",
        warc_headers={
            "WARC-Record-ID": request_id,
            "WARC-Concurrent-To": response_id,
            **common,
        },
        http_head=request_head,
        http_body=exchange.request_body,
    )
    records = [_built(request_id, "request", exchange.url, None, request_data, request_sha)]
    if exchange.status is None:
        fields = {
            "error": exchange.error or "no response",
            "elapsed-seconds": f"{exchange.elapsed:.3f}",
        }
        records.append(
            metadata_record(
                exchange.url,
                fields,
                at=exchange.started_at,
                probe_id=probe_id,
                service=service,
                refers_to=request_id,
                record_id=response_id,
            )
        )
        return records
    version = exchange.http_version or "1.1"
    status_line = f"HTTP/{version} {exchange.status} {exchange.reason}".rstrip()
    response_head = _head(status_line, exchange.response_headers, "latin-1")
    body = exchange.raw_body
    if _chunked(exchange.response_headers):
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    extra = {"Guichets-Elapsed-Seconds": f"{exchange.elapsed:.3f}"}
    if exchange.error is not None:
        extra["WARC-Truncated"] = _TRUNCATED.get(exchange.error, "unspecified")
        extra["Guichets-Error"] = exchange.error
    response_data, response_sha = _serialise(
        exchange.url,
        "response",
        payload=b"",
        warc_headers={
            "WARC-Record-ID": response_id,
            "WARC-Concurrent-To": request_id,
            **common,
            **extra,
        },
        http_head=response_head,
        http_body=body,
        entity=exchange.raw_body,
    )
    records.append(
        _built(response_id, "response", exchange.url, exchange.status, response_data, response_sha)
    )
    return records


def _fields(values: Mapping[str, str]) -> bytes:
    """application/warc-fields: one ``name: value`` line each, values on one line."""
    lines = (f"{k}: {' '.join(str(v).split())}\r\n" for k, v in values.items() if v != "")
    return "".join(lines).encode("utf-8")


def metadata_record(
    uri: str,
    fields: Mapping[str, str],
    *,
    at: datetime,
    probe_id: str,
    service: str,
    refers_to: str | None = None,
    record_id: str | None = None,
) -> BuiltRecord:
    """A ``metadata`` record about a probe (its outcome, or a request that got no response)."""
    identity = record_id or _record_id()
    headers = {
        "WARC-Record-ID": identity,
        "WARC-Date": _warc_date(at),
        PROBE_HEADER: probe_id,
        SERVICE_HEADER: service,
    }
    if refers_to:
        headers["WARC-Refers-To"] = refers_to
    payload = _fields(fields)
    data, sha = _serialise(
        uri, "metadata", payload=payload, warc_headers=headers,
        content_type="application/warc-fields",
    )  # fmt: skip
    return _built(identity, "metadata", uri, None, data, sha)


def warcinfo_record(filename: str, fields: Mapping[str, str], *, at: datetime) -> BuiltRecord:
    """The first record of every file: who wrote it, with what, on which clock."""
    identity = _record_id()
    data, sha = _serialise(
        "",
        "warcinfo",
        payload=_fields(fields),
        warc_headers={
            "WARC-Record-ID": identity,
            "WARC-Date": _warc_date(at),
            "WARC-Filename": filename,
        },
        content_type="application/warc-fields",
    )
    return _built(identity, "warcinfo", "", None, data, sha)


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One gzip member of a file: where it is and what it holds (or why it could not be read)."""

    position: int
    size: int
    data: bytes | None  # the uncompressed record; None when damaged
    error: str | None = None

    @property
    def sha256(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    @property
    def record_id(self) -> str | None:
        return None if self.data is None else _header(self.data, "WARC-Record-ID")


def _header(data: bytes, name: str) -> str | None:
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else 4096].decode("utf-8", errors="replace")
    prefix = name.lower() + ":"
    for line in head.split("\r\n")[1:]:
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    return None


_MAGIC = b"\x1f\x8b\x08"


def _next_magic(blob: bytes, after: int) -> int:
    found = blob.find(_MAGIC, after + 1)
    return found if found >= 0 else len(blob)


def iter_members(blob: bytes, sizes: Mapping[int, int] | None = None) -> Iterator[Member]:
    """Every gzip member of ``blob``, in order. ``sizes`` (position -> size, from the store) lets
    each member be read from its own bytes only; without a hint, or when the hint is wrong, the
    member's end is found by decompressing. A damaged member is reported and reading goes on at
    the next gzip header, so one bad byte does not hide the records after it."""
    view = memoryview(blob)
    total = len(blob)
    position = 0
    while position < total:
        hint = (sizes or {}).get(position)
        end = position + hint if hint and position + hint <= total else _next_magic(blob, position)
        while True:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflater.decompress(view[position:end])
            except zlib.error as exc:
                resume = position + hint if hint and position + hint <= total else 0
                end = resume if resume > position else _next_magic(blob, position)
                yield Member(position, end - position, None, f"damaged gzip data ({exc})")
                position = end
                break
            if inflater.eof:
                size = end - position - len(inflater.unused_data)
                yield Member(position, size, data)
                position += size
                break
            if end >= total:
                yield Member(position, total - position, None, "cut short: the file ends inside")
                position = total
                break
            end = _next_magic(blob, end)  # a gzip header inside compressed data: look further


def read_member(blob: bytes) -> bytes:
    """The uncompressed record of one gzip member, read in full or raising ValueError."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(blob)
    except zlib.error as exc:
        raise ValueError(f"damaged gzip data ({exc})") from exc
    if not inflater.eof:
        raise ValueError("the record is cut short")
    return data


@dataclass(frozen=True)
class ReadRecord:
    """A record parsed back: its WARC fields and, for HTTP records, the message's parts."""

    kind: str
    uri: str
    date: str
    fields: dict[str, str]
    status: int | None
    http_headers: tuple[tuple[str, str], ...]
    body: bytes  # the HTTP body as archived (content coding kept); the block for other kinds

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.http_headers if k.lower() == lowered), None)


def read_record(data: bytes) -> ReadRecord:
    """Parse one uncompressed (or gzipped) record with warcio."""
    iterator = ArchiveIterator(io.BytesIO(data), no_record_parse=False)
    for record in iterator:
        fields = {k: v for k, v in record.rec_headers.headers}
        status = None
        http_headers: tuple[tuple[str, str], ...] = ()
        if record.http_headers is not None and record.rec_type in ("request", "response"):
            http_headers = tuple(record.http_headers.headers)
            if record.rec_type == "response":
                code = record.http_headers.get_statuscode()
                status = int(code) if code and code.isdigit() else None
        body = record.raw_stream.read()
        return ReadRecord(
            kind=record.rec_type,
            uri=fields.get("WARC-Target-URI", ""),
            date=fields.get("WARC-Date", ""),
            fields=fields,
            status=status,
            http_headers=http_headers,
            body=body,
        )
    raise ValueError("no WARC record in these bytes")
