"""The alerts' outbox: each message not yet delivered to one receiver, in the database.

Delivery (``guichets.alerts.delivery``) lives above the store; this module holds its SQL. A row
is queued per message and receiver, claimed before each attempt (so that two processes on one
database never send it twice, and a process killed while sending leaves it to be tried again
once the claim lapses), deleted once delivered, and kept as ``given_up`` after its last retry:
nothing leaves the table unseen (``guichets alerts outbox``).

A receiver is known by ``target_key``, the SHA-256 of its whole URL, and shown by ``target``, the
URL as Apprise's privacy mode writes it: a password or a token in a URL never reaches the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, delete, func, insert, select, update

from guichets.store import Store, as_utc
from guichets.store.schema import alert_outbox

__all__ = [
    "STATES",
    "OutboxRow",
    "claim",
    "delivered",
    "failed",
    "next_due",
    "queue",
    "read_outbox",
    "retry_given_up",
    "target_key",
]

STATES: Final = ("waiting", "given_up")


def target_key(url: str) -> str:
    """How the table knows a receiver without holding its URL (which may hold a secret)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message for one receiver, and how its attempts went."""

    id: int
    alert_id: str
    kind: str
    change: str
    cause: str
    service: str | None
    title: str
    body: str
    target: str
    target_key: str
    queued_at: datetime
    due: datetime
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    state: str

    def to_json(self) -> dict[str, Any]:
        """The ``guichets alerts outbox --format json`` row (the body left out: it is long)."""
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "kind": self.kind,
            "change": self.change,
            "title": self.title,
            "target": self.target,
            "queued_at": self.queued_at.isoformat(),
            "due": self.due.isoformat(),
            "attempts": self.attempts,
            "last_attempt_at": (
                None if self.last_attempt_at is None else self.last_attempt_at.isoformat()
            ),
            "last_error": self.last_error,
            "state": self.state,
        }


def _row(row: Any) -> OutboxRow:
    m = row._mapping
    last = m["last_attempt_at"]
    return OutboxRow(
        id=m["id"],
        alert_id=m["alert_id"],
        kind=m["kind"],
        change=m["change"],
        cause=m["cause"],
        service=m["service"],
        title=m["title"],
        body=m["body"],
        target=m["target"],
        target_key=m["target_key"],
        queued_at=as_utc(m["queued_at"]),
        due=as_utc(m["due"]),
        attempts=m["attempts"],
        last_attempt_at=None if last is None else as_utc(last),
        last_error=m["last_error"],
        state=m["state"],
    )


def queue(
    store: Store,
    message: dict[str, str | None],
    targets: Sequence[tuple[str, str]],
    *,
    at: datetime,
    due: datetime,
) -> None:
    """One waiting row per ``(target, target_key)`` for ``message`` (its ``alert_id``, ``kind``,
    ``change``, ``cause``, ``service``, ``title`` and ``body``), in one transaction."""
    rows = [
        {
            **message,
            "target": target,
            "target_key": key,
            "queued_at": at,
            "due": due,
            "attempts": 0,
            "last_attempt_at": None,
            "last_error": None,
            "state": "waiting",
        }
        for target, key in targets
    ]
    if rows:
        with store.writing("queue an alert message") as conn:
            conn.execute(insert(alert_outbox), rows)


def next_due(store: Store, keys: Sequence[str]) -> OutboxRow | None:
    """The waiting row to try next among the receivers ``keys``: each receiver's oldest waiting
    message (a receiver gets its messages in the order they were queued: a reopening never
    before its closing), the one due first."""
    if not keys:
        return None
    head = (
        select(func.min(alert_outbox.c.id))
        .where(alert_outbox.c.state == "waiting", alert_outbox.c.target_key.in_(keys))
        .group_by(alert_outbox.c.target_key)
    )
    query = (
        select(alert_outbox)
        .where(alert_outbox.c.id.in_(head))
        .order_by(alert_outbox.c.due, alert_outbox.c.id)
        .limit(1)
    )
    with store.reading("read the alerts' outbox") as conn:
        row = conn.execute(query).first()
    return None if row is None else _row(row)


def claim(store: Store, row: OutboxRow, *, at: datetime, until: datetime) -> bool:
    """Take ``row`` for one attempt: count it, and push its due time to ``until`` (so that if this
    process dies while sending, the next run tries again then). False when another process took
    it first (its attempts changed) or it is no longer waiting."""
    with store.writing("claim an alert message") as conn:
        done = conn.execute(
            update(alert_outbox)
            .where(
                and_(
                    alert_outbox.c.id == row.id,
                    alert_outbox.c.attempts == row.attempts,
                    alert_outbox.c.state == "waiting",
                )
            )
            .values(attempts=row.attempts + 1, due=until, last_attempt_at=at)
        )
    return done.rowcount == 1


def delivered(store: Store, row_id: int) -> None:
    """The message reached its receiver: it leaves the outbox."""
    with store.writing("remove a delivered alert message") as conn:
        conn.execute(delete(alert_outbox).where(alert_outbox.c.id == row_id))


def failed(store: Store, row_id: int, error: str, *, retry_at: datetime | None) -> None:
    """An attempt failed: wait until ``retry_at``, or (None) give up and keep it for a person."""
    values: dict[str, Any] = {"last_error": error[:300]}
    if retry_at is None:
        values["state"] = "given_up"
    else:
        values["due"] = retry_at
    with store.writing("record a failed alert delivery") as conn:
        conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(**values))


def read_outbox(store: Store, keys: Sequence[str] | None = None) -> list[OutboxRow]:
    """Every row (or those of the receivers ``keys``): waiting ones first, each by due time."""
    query = select(alert_outbox).order_by(
        alert_outbox.c.state.desc(), alert_outbox.c.due, alert_outbox.c.id
    )
    if keys is not None:
        query = query.where(alert_outbox.c.target_key.in_(keys))
    with store.reading("read the alerts' outbox") as conn:
        return [_row(r) for r in conn.execute(query)]


def retry_given_up(store: Store, *, due: datetime) -> int:
    """Put every given-up row back in the queue with its attempts from zero; how many."""
    with store.writing("retry given-up alert messages") as conn:
        done = conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.state == "given_up")
            .values(state="waiting", attempts=0, due=due)
        )
    return int(done.rowcount)
