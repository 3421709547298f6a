"""The hash-chain heads, published so that a rewritten archive shows from outside.

Each service's ledger is a hash chain: every entry's digest covers the previous one's. Whoever
holds the archive could still rewrite a whole chain consistently; what they cannot do is change a
digest that was already published elsewhere. ``guichets evidence heads`` writes each service's
last entry (sequence number and digest) as a small JSON file to publish (on the site, in a public
repository, in a mail to a partner); ``--check FILE`` later confirms that each published entry is
still in the ledger with the same digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guichets.store import Store

__all__ = ["FORMAT", "check_heads", "heads_document"]

FORMAT = "guichets-heads/1"


def _digest(services: Mapping[str, Mapping[str, Any]]) -> str:
    canonical = json.dumps(services, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def heads_document(store: Store, at: datetime) -> dict[str, Any]:
    """Every service's last ledger entry, with a digest of them all."""
    services = {
        service: {"seq": seq, "entry_sha256": entry}
        for service, (seq, entry) in sorted(store.ledger_heads().items())
    }
    return {
        "format": FORMAT,
        "generated_at": at.isoformat(timespec="seconds"),
        "services": services,
        "sha256": _digest(services),
    }


def check_heads(store: Store, published: Mapping[str, Any]) -> list[str]:
    """What no longer matches a published heads document (empty when all still hold)."""
    if published.get("format") != FORMAT or not isinstance(published.get("services"), dict):
        return [f"not a heads document of guichets ({FORMAT})"]
    services: dict[str, Any] = published["services"]
    problems: list[str] = []
    if published.get("sha256") != _digest(services):
        problems.append("the document's own sha256 does not match its services: it was edited")
    for service, head in sorted(services.items()):
        entries = {entry.seq: entry.entry_sha256 for entry in store.ledger(service=service)}
        seq, digest = head.get("seq"), head.get("entry_sha256")
        if seq not in entries:
            problems.append(f"{service}: entry {seq}, published as {digest}, is gone")
        elif entries[seq] != digest:
            problems.append(
                f"{service}: entry {seq} was published as {digest} and is now {entries[seq]}"
            )
    return problems
