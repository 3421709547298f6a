"""The WARC archive: records as the bytes went over the wire, rotation, refusals and recovery."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import create_engine, text
from warcio.archiveiterator import ArchiveIterator

from guichets.clock import SimulatedClock
from guichets.evidence import layout
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.recovery import recover
from guichets.evidence.verify import verify
from guichets.evidence.warc import iter_members
from guichets.http import HostGates, Politeness
from guichets.platforms import Target
from guichets.probe import ProbeSpec, new_probe_id, run_probe
from guichets.store import Store
from tests.dbfixtures import db_url
from tests.evidence_support import START, evidence_run, warc_files

__all__ = ["db_url"]

PAGE = "<html><body><p>Une page que le robot ne connaît pas, en gzip.</p></body></html>" * 20


@pytest.fixture
async def gzip_site() -> AsyncIterator[str]:
    """A site whose page comes gzip-compressed, in chunks, with a cookie."""
    compressed = gzip.compress(PAGE.encode(), mtime=0)

    async def page(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
        )
        response.set_cookie("session", "abc123")
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(compressed), 100):
            await response.write(compressed[start : start + 100])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/booking/create/1234", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/booking/create/1234"
    finally:
        await runner.cleanup()


def _b32(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


async def test_records_keep_the_bytes_as_received(gzip_site: str, tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    gates = HostGates(clock, Politeness(min_gap=0))
    spec = ProbeSpec("38-test-gzip", "ezbooking", Target(gzip_site))
    store = Store.open(None, home=tmp_path)
    with store, EvidenceArchive(tmp_path, store, clock) as archive:
        probe_id = new_probe_id()
        recorder = archive.recorder(probe_id, spec.service)
        observation = await run_probe(
            spec, gates, clock, probe_id=probe_id, on_exchange=recorder.on_exchange
        )
        assert archive.commit(recorder, observation)
        assert verify(tmp_path, store).intact
    [warc] = warc_files(tmp_path)
    with warc.open("rb") as handle:
        records = list(_records(handle))
    kinds = [(r["type"], r["uri"].rsplit("/", 1)[-1]) for r in records]
    assert kinds == [
        ("warcinfo", ""),
        ("request", "robots.txt"),
        ("response", "robots.txt"),
        ("request", "1234"),
        ("response", "1234"),
        ("metadata", "1234"),
    ]
    response = records[4]
    # The body as it came: gzip bytes, not the page; the chunks are rejoined in one chunk.
    assert response["headers"]["Content-Encoding"] == "gzip"
    assert response["headers"]["Set-Cookie"].startswith("session=abc123")
    assert response["payload"] == gzip.compress(PAGE.encode(), mtime=0)
    assert response["content"] == PAGE.encode()
    assert response["warc"]["WARC-Payload-Digest"] == _b32(response["payload"])
    assert response["warc"]["WARC-Block-Digest"] == _b32(response["block"])
    for record in records[1:]:
        assert record["warc"]["Guichets-Probe-Id"] == probe_id
        assert record["warc"]["Guichets-Service"] == "38-test-gzip"
    request = records[3]
    assert request["http_first_line"] == "GET /booking/create/1234 HTTP/1.1"
    assert "guichets" in request["headers"]["User-Agent"]
    assert records[5]["block"].decode().count("outcome: unrecognized") == 1


def _records(handle: io.BufferedReader) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for record in ArchiveIterator(handle):
        entry: dict[str, object] = {
            "type": record.rec_type,
            "uri": record.rec_headers.get_header("WARC-Target-URI") or "",
            "warc": dict(record.rec_headers.headers),
        }
        if record.http_headers is not None and record.rec_type in ("request", "response"):
            head = record.http_headers
            entry["headers"] = dict(head.headers)
            entry["http_first_line"] = f"{head.protocol} {head.statusline}"
            framed = record.raw_stream.read()
            entry["payload_framed"] = framed
            entry["block"] = head.to_bytes(encoding="latin-1") + framed
            # one chunk: "<size>\r\n<bytes>\r\n0\r\n\r\n"
            if head.get_header("Transfer-Encoding") == "chunked":
                size, _, rest = framed.partition(b"\r\n")
                entry["payload"] = rest[: int(size, 16)]
            else:
                entry["payload"] = framed
            entry["content"] = (
                gzip.decompress(entry["payload"])  # type: ignore[arg-type]
                if head.get_header("Content-Encoding") == "gzip"
                else entry["payload"]
            )
        else:
            entry["block"] = record.raw_stream.read()
        found.append(entry)
    return found


async def test_a_probe_the_store_refuses_leaves_no_record(tmp_path: Path) -> None:
    run = await evidence_run(tmp_path, days=0.3, services=("63-clermont-renouvellement",))
    assert run.summary.probes >= 1
    clock = SimulatedClock(START)
    with Store.open(None, home=tmp_path) as store:
        first = next(iter(store.observations()))
        key = store.period_keys(first.service, START)
        assert key
        with EvidenceArchive(tmp_path, store, clock) as archive:
            recorder = archive.recorder(new_probe_id(), first.service)
            again = first.__class__(**{**first.__dict__, "probe_id": recorder.probe_id})
            assert archive.commit(recorder, again, period_key=sorted(key)[0]) is False
            current = archive._file
            assert current is not None
            size_after = current.path.stat().st_size
            assert size_after == current.size
        result = verify(tmp_path, store)
    assert result.intact, result.problems
    # The refused probe's closing record was cut off again: nothing in any file names it.
    for path in warc_files(tmp_path):
        assert recorder.probe_id.encode() not in gzip.decompress(path.read_bytes())


async def test_files_rotate_and_each_closed_file_has_its_digest(tmp_path: Path) -> None:
    run = await evidence_run(tmp_path, days=1, cadence="3h", max_file_bytes=60_000)
    assert run.files_written >= 3
    with Store.open(None, home=tmp_path) as store:
        files = store.evidence_files()
        result = verify(tmp_path, store)
    assert result.intact, result.problems
    assert result.files == len(files) == len(warc_files(tmp_path))
    for file in files:
        data = (layout.warc_dir(tmp_path) / file.name).read_bytes()
        assert file.closed_at is not None and file.size == len(data)
        assert file.sha256 == hashlib.sha256(data).hexdigest()
        assert file.size <= 60_000 or len(list(iter_members(data))) <= 3 + 6 * 2 + 1
        assert file.clock == "simulated"


async def test_recovery_moves_unstored_records_aside_and_closes_the_file(tmp_path: Path) -> None:
    await evidence_run(tmp_path, days=0.5, services=("63-clermont-renouvellement",))
    clock = SimulatedClock(START + timedelta(days=1))
    with Store.open(None, home=tmp_path) as store:
        archive = EvidenceArchive(tmp_path, store, clock)
        archive.open()
        # A probe's records written, then the process dies before the store has it: no commit,
        # no close; a record cut short; and a new file the store never heard of.
        recorder = archive.recorder(new_probe_id(), "63-clermont-renouvellement")
        observation = next(iter(store.observations()))
        member = recorder.closing_record(observation).member
        current, _ = archive._append(member + member[: len(member) // 2])
        name = current.name
        archive._abandon()
        stray = layout.warc_dir(tmp_path) / "guichets-stray.warc.gz"
        stray.write_bytes(member)
        before = verify(tmp_path, store)
        assert not before.intact
        said = "\n".join(map(str, before.problems))
        assert f"file {name}: {len(member) + len(member) // 2} bytes after its last stored" in said
        assert "file guichets-stray.warc.gz: in the evidence folder but not in the database" in said
        done = recover(tmp_path, store)
        assert done.closed == [name] and [t[:2] for t in done.tails] == [
            (name, len(member) + len(member) // 2)
        ]
        assert [p.name for p in done.strays] == ["guichets-stray.warc.gz"]
        after = verify(tmp_path, store)
        assert after.intact, after.problems
        assert any("moved aside" in note for note in after.notes)
        assert sorted(p.name for p in layout.orphans_dir(tmp_path).iterdir()) == sorted(
            [t[2].name for t in done.tails] + ["guichets-stray.warc.gz"]
        )
        assert recover(tmp_path, store).lines() == []  # nothing left to do


async def test_a_file_being_written_is_left_alone(tmp_path: Path) -> None:
    await evidence_run(tmp_path, days=0.3, services=("63-clermont-renouvellement",))
    clock = SimulatedClock(START + timedelta(days=1))
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as live:
        recorder = live.recorder(new_probe_id(), "63-clermont-renouvellement")
        observation = next(iter(store.observations()))
        current, _ = live._append(recorder.closing_record(observation).member)  # not stored yet
        report = recover(tmp_path, store)
        assert report.busy == [current.name] and not report.tails
        result = verify(tmp_path, store)
        assert result.intact, result.problems
        assert any("being written by a live run" in note for note in result.notes)


async def test_evidence_on_both_backends(db_url: str, tmp_path: Path) -> None:
    await evidence_run(tmp_path, days=0.5, db_url=db_url)
    with Store.open(db_url) as store:
        result = verify(tmp_path, store)
        assert result.intact, result.problems
        entries = store.ledger()
        victim = entries[1].probe_id
    assert sorted(e.seq for e in entries if e.service == entries[0].service)[:2] == [1, 2]
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE probes SET message = 'edited' WHERE probe_id = :p"), {"p": victim}
            )
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        broken = verify(tmp_path, store)
    assert [str(p) for p in broken.problems] == [
        f"probe {victim}: its row ({entries[1].service}, ledger entry {entries[1].seq}) is not "
        "what was stored: it was edited after the probe"
    ]


def test_members_are_found_even_without_hints() -> None:
    records = [gzip.compress(f"record {i}".encode() * 50) for i in range(5)]
    blob = b"".join(records)
    found = list(iter_members(blob))
    assert [m.data for m in found] == [f"record {i}".encode() * 50 for i in range(5)]
    damaged = bytearray(blob)
    damaged[len(records[0]) + 15] ^= 0xFF  # inside the second member's compressed data
    found = list(iter_members(bytes(damaged)))
    assert [m.data is None for m in found] == [False, True, False, False, False]
