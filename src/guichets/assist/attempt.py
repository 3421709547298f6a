"""One assisted attempt, from "start" to the last read: what the console drives.

The steps (docs/human-assisted.md):

1. **start**: a browser context of its own walks the person's path to the captcha (the entry URL;
   on RDV-Préfecture the link to ``cgu/``), and keeps the captcha's image (and the address of its
   sound) in memory for the person's screen;
2. **answer**: the person's answer is typed, key by key, into the site's own field, and the site's
   own button pressed; a refused answer shows the new captcha, and the person may try again;
3. **read**: once the site let the session through, the robot's reader for the platform reads the
   slot page in that same context; the observation is stored with its WARC records and ledger
   entry (``assisted`` true, ``person`` the opaque id), and its archived page rendered with the
   evidence banner;
4. **more reads**: at most one every :attr:`Limits.read_gap`, within :attr:`Limits.read_window` of
   the captcha's passing, each a new observation;
5. **stop**: the context is closed (its cookies with it). An attempt that never read is stored as
   a ``barrier`` / ``captcha`` observation, with what the browser exchanged.

Nothing here ever looks at what a captcha says: no OCR, no speech recognition, no solver.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from guichets.assist.browser import WIDGETS, BrowserSession, PageRecorder, Widget
from guichets.catalogue import Service
from guichets.clock import Clock
from guichets.evidence.archive import EvidenceArchive, ProbeRecorder
from guichets.http import Exchange, HostGates, Politeness
from guichets.model import Detail, Observation, Outcome
from guichets.periods import local_day
from guichets.platforms import Target, guard_for
from guichets.probe import ProbeSpec, new_probe_id, run_probe
from guichets.store import Store
from guichets.store.assisted import Attempt, attempts_on_day, save_attempt

__all__ = ["CEILING", "AttemptError", "AttemptRun", "Limits", "Read"]

# No configuration may allow more attempts per person, démarche and Paris day than this: the
# observatory must never become a way around a captcha at scale.
CEILING = 6
ASSIST_USER_AGENT = (
    "guichets-assist/0.1 (+https://github.com/guichets/guichets; une personne répond au captcha)"
)


class AttemptError(Exception):
    """What the person is told when an attempt cannot start or go on."""


@dataclass(frozen=True)
class Limits:
    """How much one person may do: attempts a day per démarche, reads within one session."""

    per_day: int = 3
    read_gap: timedelta = timedelta(minutes=5)
    read_window: timedelta = timedelta(hours=1)
    idle: timedelta = timedelta(minutes=20)  # an attempt nobody touches ends

    def __post_init__(self) -> None:
        if not 1 <= self.per_day <= CEILING:
            raise ValueError(f"per_day must be between 1 and {CEILING} (the ceiling)")

    @property
    def max_reads(self) -> int:
        return int(self.read_window / self.read_gap) + 1


@dataclass
class Read:
    """One read of an attempt, as the person is shown it."""

    observation: Observation
    screenshot: bytes | None


@dataclass
class AttemptRun:
    """An attempt under way: its browser context, what the person sees, what was stored."""

    attempt: Attempt
    service: Service
    context: Any
    page: Any
    recorder: PageRecorder
    archive: EvidenceArchive
    store: Store
    clock: Clock
    limits: Limits
    render: Callable[[str], Any] | None = None  # probe id -> PNG bytes (awaitable)
    widget: Widget | None = None
    image: bytes | None = None  # the captcha shown, in memory until answered
    sound_url: str | None = None
    message: str = ""
    reads: list[Read] = field(default_factory=list)
    shown_wall: float | None = None
    last_touch: float = field(default_factory=time.monotonic)
    _probe: ProbeRecorder | None = None
    _probe_started: datetime | None = None
    _refused_from: tuple[int, int] = (0, 0)  # the recorder's refusals when this probe began
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def id(self) -> str:
        return self.attempt.attempt_id

    @property
    def person(self) -> str:
        return self.attempt.person

    @property
    def done(self) -> bool:
        return self.attempt.state != "running"

    # -- start ----------------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        browser: Any,
        *,
        person: str,
        service: Service,
        store: Store,
        archive: EvidenceArchive,
        clock: Clock,
        limits: Limits,
        render: Callable[[str], Any] | None = None,
    ) -> AttemptRun:
        now = clock.now()
        made = attempts_on_day(store, person, service.id, local_day(now))
        if made >= limits.per_day:
            raise AttemptError(
                f"Vous avez déjà fait {made} tentative(s) aujourd'hui pour cette démarche ; la "
                f"limite est de {limits.per_day} par jour."
            )
        # The attempt is counted before the first ``await``: two starts at once (two tabs, a
        # double click) cannot both pass the count above and exceed the ceiling.
        attempt = Attempt(uuid.uuid4().hex, person, service.id, service.url, now)
        save_attempt(store, attempt)
        run = cls(
            attempt, service, None, None,
            PageRecorder(guard_for(service.platform), clock, lambda e: None),
            archive, store, clock, limits, render,
        )  # fmt: skip
        run.recorder.on_exchange = run._record
        run._new_probe()
        try:
            run.context = context = await browser.new_context(
                locale="fr-FR",
                timezone_id="Europe/Paris",
                user_agent=ASSIST_USER_AGENT,
                service_workers="block",
                viewport={"width": 1100, "height": 900},
            )
            await context.route("**/*", run.recorder.route)
            run.page = await context.new_page()
            await run._to_captcha()
        except Exception as error:
            await run._fail(f"le chemin vers le captcha a échoué : {error}")
        return run

    def _new_probe(self) -> None:
        self._probe = self.archive.recorder(new_probe_id(), self.service.id)
        self._probe_started = self.clock.now()
        self._refused_from = (self.recorder.refused_total, len(self.recorder.refused))
        self.recorder.trail.clear()

    def _record(self, exchange: Exchange) -> None:
        if self._probe is not None:
            self._probe.on_exchange(replace(exchange, probe_id=self._probe.probe_id))

    async def _to_captcha(self) -> None:
        page = self.page
        await page.goto(self.service.url, wait_until="load")
        if await self._find_widget() is None and self.service.platform == "rdvpref":
            link = page.locator("a[href$='/cgu/']").first
            if await link.count():
                async with page.expect_navigation(wait_until="load"):
                    await link.click()
        widget = await self._find_widget()
        if widget is None:
            # No captcha on the way: nothing for the person to answer; read at once.
            self.message = "Aucun captcha sur le chemin : la page des créneaux est lue directement."
            await self._passed()
            return
        await self._show(widget)

    async def _find_widget(self) -> Widget | None:
        """The captcha on the page: its answer field comes with the page, its image may come
        later (CaptchEtat's element fetches it), so the image is waited for only then."""
        page = self.page
        for widget in WIDGETS:
            if not await page.locator(widget.field).count():
                continue
            try:
                await page.wait_for_selector(widget.image, timeout=8000, state="attached")
            except Exception:
                return None
            return widget
        return None

    async def _show(self, widget: Widget) -> None:
        """Keep the captcha's image (as the browser received it) and its sound's address."""
        page = self.page
        image = page.locator(widget.image).first
        await page.wait_for_function(
            "(e) => e.complete && e.naturalWidth > 0", arg=await image.element_handle()
        )
        src = str(await image.evaluate("(e) => e.currentSrc || e.src"))
        self.widget = widget
        self.image = self.recorder.media.get(src)
        self.sound_url = None
        if widget.sound and await page.locator(widget.sound).count():
            self.sound_url = str(await page.locator(widget.sound).first.evaluate("(e) => e.href"))
        if self.image is None:
            await self._fail("l'image du captcha n'a pas été reçue")
            return
        if self.attempt.captcha_shown_at is None:
            self.attempt = self.attempt.but(captcha_shown_at=self.clock.now())
        self.shown_wall = time.monotonic()
        save_attempt(self.store, self.attempt)

    async def sound(self) -> bytes | None:
        """The captcha's sound, fetched now in the attempt's context for the person's ears."""
        if self.sound_url is None or self.done:
            return None
        self.touch()
        try:
            await self.page.evaluate(
                "(u) => fetch(u, {credentials: 'include'}).then((r) => r.arrayBuffer())",
                self.sound_url,
            )
        except Exception:
            return None
        return self.recorder.media.get(self.sound_url)

    def touch(self) -> None:
        self.last_touch = time.monotonic()

    # -- answer ---------------------------------------------------------------------------------

    async def answer(self, text: str) -> bool:
        """Type the person's answer into the site's field and press the site's button; True when
        the site let the session through (and the first read is made)."""
        async with self._lock:
            return await self._answer(text)

    async def _answer(self, text: str) -> bool:
        if self.done or self.widget is None:
            raise AttemptError("Cette tentative n'attend pas de réponse.")
        text = text.strip()
        if not text or len(text) > 32:
            raise AttemptError("Recopiez le code affiché (au plus 32 caractères).")
        self.touch()
        page, widget = self.page, self.widget
        seconds = 0.0 if self.shown_wall is None else time.monotonic() - self.shown_wall
        self.attempt = self.attempt.but(
            answers=self.attempt.answers + 1,
            person_seconds=self.attempt.person_seconds + seconds,
        )
        self.image = None  # shown, answered: never kept
        self.recorder.media.clear()
        field_ = page.locator(widget.field).first
        await field_.fill("")
        await field_.press_sequentially(text, delay=20)
        checkbox = page.locator("input[name=condition]")
        if await checkbox.count():
            await checkbox.first.check()
        self.recorder.typed = await field_.input_value()  # what the person's keys left there
        try:
            async with page.expect_navigation(wait_until="load"):
                await page.locator(widget.submit).first.click()
        finally:
            self.recorder.typed = None
        again = await self._find_widget()
        if again is not None:
            self.attempt = self.attempt.but(wrong_answers=self.attempt.wrong_answers + 1)
            self.message = "Le site a refusé ce code. Un nouveau captcha est affiché : réessayez."
            await self._show(again)
            return False
        self.message = "Le site a accepté le code."
        await self._passed()
        return True

    # -- reads ----------------------------------------------------------------------------------

    async def _passed(self) -> None:
        self.widget = None
        self.attempt = self.attempt.but(passed_at=self.clock.now())
        save_attempt(self.store, self.attempt)
        await self._read()

    def next_read_at(self) -> datetime | None:
        """When the person may ask for another read; None when no more are allowed."""
        passed = self.attempt.passed_at
        if self.done or passed is None or len(self.reads) >= self.limits.max_reads:
            return None
        last = self.reads[-1].observation.started_at if self.reads else passed
        at = last + self.limits.read_gap if self.reads else passed
        return at if at <= passed + self.limits.read_window else None

    async def read_again(self) -> Read:
        async with self._lock:
            at = self.next_read_at()
            now = self.clock.now()
            if at is None:
                raise AttemptError("Plus aucune lecture n'est permise dans cette session.")
            if now < at:
                minutes = math.ceil((at - now).total_seconds() / 60)
                raise AttemptError(
                    f"Prochaine lecture possible dans {minutes} min (une lecture toutes les "
                    f"{int(self.limits.read_gap.total_seconds() // 60)} minutes au plus)."
                )
            self.touch()
            return await self._read()

    async def _read(self) -> Read:
        probe = self._probe
        assert probe is not None and self._probe_started is not None
        spec = ProbeSpec(
            self.service.id,
            self.service.platform,
            Target(
                self.service.url,
                None if self.service.planning is None else str(self.service.planning),
                self.service.horizon_days,
            ),
            self.service.departement,
        )
        gates = HostGates(self.clock, Politeness(min_gap=0, obey_robots=False))
        session = BrowserSession(
            self.context, gates, probe_id=probe.probe_id, on_exchange=probe.on_exchange
        )
        captcha_steps = tuple(self.recorder.trail)
        observation = await run_probe(
            spec, gates, self.clock, probe_id=probe.probe_id, session=session
        )
        observation = replace(
            observation,
            started_at=self._probe_started,
            trail=captcha_steps + observation.trail,
            requests=len(captcha_steps) + observation.requests,
            assisted=True,
            person=self.person,
            extra=self._extra(observation.extra),
        )
        return await self._commit(probe, observation)

    def _extra(self, found: dict[str, str]) -> dict[str, str]:
        extra = {
            **found,
            "attempt": self.id,
            "person_seconds": f"{self.attempt.person_seconds:.1f}",
            "captcha_answers": str(self.attempt.answers),
            "captcha_wrong_answers": str(self.attempt.wrong_answers),
        }
        # What the page asked during this probe and guichets refused to send: evidence that
        # nothing was booked and no personal data left, request by request (the dossier shows it).
        total, kept = self._refused_from
        refused = self.recorder.refused_total - total
        if refused:
            extra["refused_requests"] = str(refused)
            extra["refused"] = "\n".join(self.recorder.refused[kept:])
        return extra

    async def _commit(self, probe: ProbeRecorder, observation: Observation) -> Read:
        self.archive.commit(probe, observation)
        self.attempt = self.attempt.but(reads=self.attempt.reads + 1)
        save_attempt(self.store, self.attempt)
        shot = None
        if self.render is not None:
            try:
                shot = await self.render(observation.probe_id)
            except Exception:  # the probe is stored; its screenshot can be rendered again
                shot = None
        read = Read(observation, shot)
        self.reads.append(read)
        self._new_probe()
        return read

    # -- the end --------------------------------------------------------------------------------

    async def stop(self, state: str = "", note: str = "") -> None:
        """End the attempt: close its browser context; one that never read records the captcha
        it stopped at."""
        async with self._lock:
            await self._stop(state, note)

    async def _stop(self, state: str, note: str) -> None:
        if self.done:
            return
        self.image = None
        self.recorder.media.clear()
        if not self.reads and self._probe is not None and self._probe_started is not None:
            steps = tuple(self.recorder.trail)
            observation = Observation(
                probe_id=self._probe.probe_id,
                service=self.service.id,
                platform=self.service.platform,
                url=self.service.url,
                started_at=self._probe_started,
                finished_at=self.clock.now(),
                outcome=Outcome.BARRIER,
                detail=Detail.CAPTCHA,
                requests=len(steps),
                message=note or "the person stopped before the site let the session through",
                departement=self.service.departement,
                trail=steps,
                assisted=True,
                person=self.person,
                extra={**self._extra({}), "captcha": self.widget.kind if self.widget else ""},
            )
            self.archive.commit(self._probe, observation)
        final = state or ("read" if self.reads else "abandoned")
        self.attempt = self.attempt.but(
            state=final, finished_at=self.clock.now(), note=note or self.attempt.note
        )
        save_attempt(self.store, self.attempt)
        self.widget = None
        if self.context is not None:
            with contextlib.suppress(Exception):  # the browser may be gone already
                await self.context.close()

    async def _fail(self, note: str) -> None:
        self.message = f"La tentative a échoué : {note}."
        await self._stop("failed", note)
