"""One probe: a fresh polite session, the platform's reader, and an Observation whatever happens.

Whatever goes wrong (a site that hangs, a reader that meets a page it cannot parse, a bug) ends as
an observation with an honest outcome, never as "no slot" and never as a crash of the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from guichets.clock import Clock
from guichets.http import Exchange, FetchError, ForbiddenRequest, HostGates, PoliteSession
from guichets.model import Detail, Observation, Outcome
from guichets.platforms import Reader, Reading, Target, reader_for
from guichets.platforms.base import classify_fetch_error
from guichets.untrusted import MAX_MESSAGE, MAX_VALUE, clean_text, is_counter_id

__all__ = ["ProbeSpec", "new_probe_id", "run_probe"]

log = logging.getLogger(__name__)

# Bounds a whole probe in wall time, whatever each request's own timeout: a site that answers each
# request just under its timeout must not hold a worker for ever.
PROBE_WALL_LIMIT = 300.0
MAX_EXTRA = 4096  # characters of one platform finding (a list of available days fits)
MAX_EXTRAS = 32  # platform findings kept per probe


def new_probe_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ProbeSpec:
    """A service to probe, as the runner and the one-off command give it."""

    service: str
    platform: str
    target: Target
    departement: str | None = None


async def run_probe(
    spec: ProbeSpec,
    gates: HostGates,
    clock: Clock,
    *,
    probe_id: str | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
    wall_limit: float = PROBE_WALL_LIMIT,
    session: PoliteSession | None = None,
) -> Observation:
    """Probe once and return what was found; never raises for anything the site does.

    ``session`` replaces the polite session of its own (an assisted attempt reads through the
    person's browser: ``guichets.assist.browser.BrowserSession``)."""
    identity = probe_id or new_probe_id()
    started = clock.now()
    cpu = time.process_time()
    if session is None:
        session = PoliteSession(
            gates, probe_id=identity, on_exchange=on_exchange, home=spec.target.url,
            other_hosts=spec.target.other_hosts, allow_local=spec.target.allow_local,
        )  # fmt: skip
    try:
        reader: Reader = reader_for(spec.platform)
        async with session:
            reading = await asyncio.wait_for(
                reader.read(session, spec.target, started), timeout=wall_limit
            )
    except FetchError as error:
        reading = classify_fetch_error(error)
    except ForbiddenRequest as refusal:
        # Nothing was sent: the guard refused before. Whether the site led there (a redirect, a
        # form action) or the reader erred, the probe is no finding about availability; say so
        # loudly, keep the probe, and go on with the others.
        log.error("probe %s of %s refused a booking request: %s", identity, spec.service, refusal)
        reading = Reading(
            Outcome.UNRECOGNIZED,
            Detail.BOOKING_STEP_REFUSED,
            f"the path led to a request that would select or book a slot; the robot refused to "
            f"send it ({refusal})",
        )
    except TimeoutError:
        reading = Reading(
            Outcome.SITE_ERROR, Detail.TIMEOUT, f"the probe took more than {wall_limit:.0f} s"
        )
    except Exception as error:  # a reader's bug must not pass for a finding about the site
        reading = Reading(
            Outcome.UNRECOGNIZED,
            "reader_error",
            f"the reader failed: {error!r}; "
            + traceback.format_exc(limit=3).replace("\n", " | ")[-600:],
        )
    finished = clock.now()
    reading = bounded(reading, spec.target.counter)
    return Observation(
        probe_id=identity,
        service=spec.service,
        platform=spec.platform,
        url=spec.target.url,
        started_at=started,
        finished_at=finished,
        outcome=reading.outcome,
        detail=str(reading.detail),
        slots=reading.slots,
        horizon_end=reading.horizon_end,
        counter=reading.counter,
        requests=session.requests,
        http_status=reading.http_status,
        message=reading.message,
        departement=spec.departement,
        trail=tuple(session.trail),
        kept_page=reading.kept_page,
        kept_url=reading.kept_url,
        cpu_seconds=time.process_time() - cpu,
        extra=_extra(reading, session),
    )


def bounded(reading: Reading, asked: str | None) -> Reading:
    """What came from the site, bounded and cleaned before it is stored: every reader's text
    passes here, so a page cannot put control characters, megabytes or a formula-looking counter
    into the data, whatever the reader forgot (``guichets.untrusted``)."""
    counter = reading.counter or asked
    if counter is not None and not is_counter_id(counter):
        return Reading(
            Outcome.UNRECOGNIZED,
            Detail.UNEXPECTED_PAGE,
            f"the counter id read from the site is not one: {clean_text(counter, 40)!r}",
            http_status=reading.http_status,
            kept_page=reading.kept_page,
            kept_url=reading.kept_url,
        )
    return replace(
        reading,
        detail=clean_text(str(reading.detail), MAX_VALUE),
        message=clean_text(reading.message, MAX_MESSAGE),
        counter=counter,
        extra={
            clean_text(key, MAX_VALUE): clean_text(value, MAX_EXTRA)
            for key, value in list(reading.extra.items())[:MAX_EXTRAS]
        },
    )


def _extra(reading: Reading, session: PoliteSession) -> dict[str, str]:
    extra = dict(reading.extra)
    if session.overrides_used:
        reasons = session.gates.politeness.robots_overrides
        extra["robots_override"] = "; ".join(
            f"{host}: {reasons.get(host, '')}" for host in sorted(session.overrides_used)
        )
    return extra
