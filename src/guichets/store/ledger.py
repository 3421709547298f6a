"""The ledger's digests: pure functions, the same when a probe is stored and when it is verified.

Each probe gets one ledger entry, chained per service::

    probe_sha256   = SHA-256(canonical JSON of the probe's stored row, kept page as its digest)
    records_sha256 = SHA-256(one line "record-id sha256" per WARC record of the probe, in order)
    entry_sha256   = SHA-256("guichets-ledger-1", previous entry_sha256, service, seq, probe id,
                             probe_sha256, records, records_sha256), one per line

The first entry of a service follows :data:`GENESIS`. Editing a probe's row changes its
``probe_sha256``; editing, adding or removing a record changes ``records_sha256``; removing or
inserting an entry breaks the chain of every later entry, and the service's head (the last
entry's digest, kept apart) shows when the newest entries go.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "GENESIS",
    "PROBE_FIELDS",
    "PROBE_FIELDS_WHEN_SET",
    "entry_digest",
    "probe_digest",
    "records_digest",
]

GENESIS = "0" * 64
_VERSION = "guichets-ledger-1"

# The columns of a probe that its entry commits to: what it found, when, where and how. Named once
# here, so that a column added to the table later does not change the digests of older probes.
# (cpu_seconds is the robot's own cost, not a finding.)
PROBE_FIELDS = (
    "probe_id",
    "run_id",
    "service",
    "departement",
    "platform",
    "url",
    "counter",
    "period_key",
    "scheduled_for",
    "started_at",
    "finished_at",
    "outcome",
    "detail",
    "category",
    "first_slot",
    "slots_count",
    "slots",
    "horizon_end",
    "requests",
    "http_status",
    "message",
    "trail",
    "extra",
    "robots_override",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive instant {value.isoformat()} in a probe row")
        return value.astimezone(UTC).isoformat()
    return value


# Columns added since: committed to only when set, so that the digests of the probes stored before
# them (all null) do not change.
PROBE_FIELDS_WHEN_SET = ("worker", "vantage", "replicate_of")


def probe_digest(row: Mapping[Any, Any], kept_page: bytes | None) -> str:
    """SHA-256 (hex) of a probe's row as stored; the kept page counts by its own digest."""
    canonical = {name: _plain(row[name]) for name in PROBE_FIELDS}
    for name in PROBE_FIELDS_WHEN_SET:
        if row.get(name) is not None:
            canonical[name] = _plain(row[name])
    if row.get("assisted"):
        # A person's read commits to being one, and to whose: the robot's probes (assisted
        # false) keep the digests they had before these columns existed.
        canonical["assisted"] = True
        canonical["person"] = row["person"]
    canonical["kept_page_sha256"] = (
        None if kept_page is None else hashlib.sha256(kept_page).hexdigest()
    )
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def records_digest(records: Iterable[tuple[str, str]]) -> str:
    """SHA-256 (hex) over ``(record_id, sha256)`` pairs in the probe's order."""
    text = "".join(f"{record_id} {sha}\n" for record_id, sha in records)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_digest(
    previous: str,
    *,
    service: str,
    seq: int,
    probe_id: str,
    probe_sha256: str,
    records: int,
    records_sha256: str,
) -> str:
    """SHA-256 (hex) of one ledger entry, committing to the one before it."""
    parts = (_VERSION, previous, service, str(seq), probe_id, probe_sha256, str(records),
             records_sha256)  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
