"""Assisted attempts: one row per attempt a person made through ``guichets assist``.

The reads an attempt makes are probes (``assisted`` true, ``person`` set, ``extra["attempt"]``
the attempt's id), stored with their evidence like the robot's; this table says what the person
did around them: when the captcha was shown, how many answers they typed and how many the site
refused, how long they took, how it ended. No captcha image, sound or answer is kept anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from guichets.model import PARIS, PERSON_ID
from guichets.store import Store
from guichets.store.schema import assisted_attempts

__all__ = ["STATES", "Attempt", "attempts", "attempts_on_day", "save_attempt"]

STATES = ("running", "read", "abandoned", "refused", "failed")


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    person: str
    service: str
    url: str
    started_at: datetime
    captcha_shown_at: datetime | None = None
    passed_at: datetime | None = None
    finished_at: datetime | None = None
    answers: int = 0
    wrong_answers: int = 0
    person_seconds: float = 0.0
    reads: int = 0
    state: str = "running"
    note: str = ""

    def __post_init__(self) -> None:
        if not PERSON_ID.fullmatch(self.person):
            raise ValueError("an attempt's person is an opaque id (p-…), never a name")

    def but(self, **changes: Any) -> Attempt:
        return replace(self, **changes)


def save_attempt(store: Store, attempt: Attempt) -> None:
    """Insert or update an attempt (its id is its key)."""
    if attempt.state not in STATES:
        raise ValueError(f"state {attempt.state!r} is not one of {STATES}")
    values = asdict(attempt)
    key = assisted_attempts.c.attempt_id == attempt.attempt_id
    with store.writing("save an assisted attempt") as conn:
        changed = conn.execute(update(assisted_attempts).where(key).values(values)).rowcount
        if not changed:
            conn.execute(insert(assisted_attempts).values(values))


def attempts(
    store: Store,
    *,
    person: str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Attempt]:
    """Attempts started in [since, until), oldest first."""
    table = assisted_attempts
    query = select(table).order_by(table.c.started_at, table.c.attempt_id)
    if person is not None:
        query = query.where(table.c.person == person)
    if service is not None:
        query = query.where(table.c.service == service)
    if since is not None:
        query = query.where(table.c.started_at >= since)
    if until is not None:
        query = query.where(table.c.started_at < until)
    with store.reading("read assisted attempts") as conn:
        return [Attempt(**dict(row._mapping)) for row in conn.execute(query)]


def attempts_on_day(store: Store, person: str, service: str, day: date) -> int:
    """How many attempts ``person`` started on ``service`` on a Paris day (for the ceiling)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    table = assisted_attempts
    query = select(func.count()).where(
        table.c.person == person,
        table.c.service == service,
        table.c.started_at >= start,
        table.c.started_at < end,
    )
    with store.reading("count assisted attempts") as conn:
        return int(conn.execute(query).scalar_one())
