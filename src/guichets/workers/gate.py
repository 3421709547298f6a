"""Politeness shared by every worker, on every machine: a lease per host in ``host_gates``.

The same rules as :class:`guichets.http.HostGates`, held in the database instead of memory, so
that they hold for all workers together: one request at a time per host, at least ``min_gap``
seconds between the end of one request to a host and the start of the next, ``Retry-After``
honoured, the circuit breaker counted across workers.

Why a table of leases and not PostgreSQL advisory locks: an advisory lock belongs to a database
session, so a machine that vanishes (power cut, network partition) keeps its locks until the
server notices the dead connection, which TCP keepalives may take hours to do; a lease ends by
itself after the longest a request may take. The gap, ``Retry-After`` and the breaker need a row
per host anyway, a lease is one more column of it, and anyone can read who holds which host
(``SELECT * FROM host_gates``). It also works behind a transaction-mode connection pooler, which
session-level advisory locks do not. Instants come from the database's clock
(``clock_timestamp()``), one clock for every machine.

Each acquisition is one ``UPDATE ... RETURNING`` on the host's row; a worker that finds the host
taken polls again shortly. Within one process, probes of one host queue on a local lock first, so
that the database sees at most one waiter per host and process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable
from typing import Final, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from yarl import URL

from guichets.clock import Clock
from guichets.http import FetchError, HostGates, Politeness, Turn, host_key
from guichets.http.gates import retry_after
from guichets.model import Detail
from guichets.store.host_gates import HostGateRows

__all__ = ["GateUnavailable", "SharedGates"]

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL: Final = 0.05  # seconds between two tries at a host another worker holds (jittered)
HOLD_LIMIT: Final = 2.0  # a longer wait is spent without the lease, so others can pass meanwhile
LEASE_MARGIN: Final = 10.0  # seconds beyond a request's time limit before a lease ends by itself


class GateUnavailable(BaseException):
    """The shared gate's database cannot be reached: a failure of the robot, not of the site.

    A BaseException on purpose: the probe's own ``except Exception`` turns whatever a site does
    into an honest observation, and this must not become one (no "unrecognized" probe for a
    database that went away). It reaches the worker, which stops probing and says so.
    """


class _SharedTurn:
    def __init__(self) -> None:
        self.sent = False
        self.status: int | None = None
        self.error: str | None = None
        self.retry_after: str | None = None

    def record(self, status: int | None, error: str | None, retry_after: str | None) -> None:
        self.sent, self.status, self.error, self.retry_after = True, status, error, retry_after


class SharedGates(HostGates):
    """:class:`HostGates` whose per-host state lives in PostgreSQL, shared by every worker.

    ``holder`` names this process in the table (worker name and a token). The robots.txt cache
    stays in memory, per worker: each worker reads a host's robots.txt at most once a day, through
    the shared gate like any request.
    """

    def __init__(
        self,
        clock: Clock,
        politeness: Politeness,
        pool: AsyncConnectionPool,
        holder: str,
    ) -> None:
        super().__init__(clock, politeness)
        self.pool = pool
        self.rows = HostGateRows(pool)
        self.holder = holder
        self.lease = politeness.timeout + politeness.min_gap + LEASE_MARGIN
        self._known: set[str] = set()
        self.lost_leases = 0  # requests that outlived their lease (should stay 0)

    @contextlib.asynccontextmanager
    async def turn(self, url: URL) -> AsyncIterator[Turn]:
        key = host_key(url)
        async with self._host(url).lock:  # this process's probes of the host queue here
            await self._take(key, url)
            turn = _SharedTurn()
            try:
                yield turn
            finally:
                await asyncio.shield(self._give(key, turn))

    async def _reach(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (psycopg.Error, OSError, TimeoutError) as exc:
            raise GateUnavailable(f"the shared gates' database is unreachable: {exc}") from exc

    async def _take(self, key: str, url: URL) -> None:
        """Wait for the host's lease and its gap; raise FetchError to refuse without sending."""
        polite = self.politeness
        if key not in self._known:
            await self._reach(self.rows.ensure(key))
            self._known.add(key)
        while True:
            row = await self._reach(self.rows.take(key, self.holder, self.lease, polite.min_gap))
            if row is None:  # another worker is sending to it now
                await self.clock.sleep(POLL * (0.5 + random.random()))
                continue
            open_wait, retry_wait, gap_wait = float(row[0]), float(row[1]), float(row[2])
            if open_wait > 0:
                await self._release(key)
                raise FetchError(
                    Detail.CIRCUIT_OPEN,
                    str(url),
                    f"{key} failed {row[3]} times in a row (all workers together); no request is "
                    f"sent to it before {row[4]}",
                )
            if retry_wait > polite.max_retry_wait:
                await self._release(key)
                raise FetchError(
                    Detail.RATE_LIMITED,
                    str(url),
                    f"{key} asked to wait {retry_wait:.0f} s more (Retry-After, to any worker), "
                    f"longer than the {polite.max_retry_wait:g} s a probe waits",
                )
            wait = max(retry_wait, gap_wait, 0.0)
            if wait > HOLD_LIMIT:  # wait without holding the host, then try again
                await self._release(key)
                await self.clock.sleep(wait - HOLD_LIMIT / 2)
                continue
            if wait > 0:
                await self.clock.sleep(wait)
            return

    async def _release(self, key: str) -> None:
        await self._reach(self.rows.release(key, self.holder))

    async def _give(self, key: str, turn: _SharedTurn) -> None:
        failed = turn.error in (Detail.TIMEOUT, Detail.NETWORK) or (
            turn.status is not None and turn.status >= 500
        )
        retry = None
        if turn.retry_after is not None:
            seconds = retry_after(turn.retry_after, self.clock.now())
            retry = seconds if seconds is not None and seconds > 0 else None
        params = {
            "host": key,
            "holder": self.holder,
            "sent": turn.sent,
            "failed": failed,
            "answered": not failed and turn.status is not None,
            "max_failures": self.politeness.breaker_failures,
            "cooldown": self.politeness.breaker_cooldown,
            "retry": retry,
        }
        try:
            if await self.rows.give(params) == 0:
                self.lost_leases += 1
                log.warning(
                    "%s: the lease on %s ended before its request did; another worker may "
                    "have sent to it within the gap",
                    self.holder,
                    key,
                )
        except (psycopg.Error, OSError, TimeoutError) as exc:
            # The lease ends by itself; the worker finds the database gone at its next step.
            log.error("%s: could not give back %s: %s", self.holder, key, exc)
