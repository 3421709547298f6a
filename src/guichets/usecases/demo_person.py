"""The demo's scripted person: attempts through the assisted console, as a person would make them.

It logs in with the console's one-time link, opens a démarche, starts the attempt, looks at the
captcha the console shows and answers it, in a Chromium page of its own. Its eyes are the
simulator's truth endpoint, asked with the SHA-256 of the image it was shown
(``GET /_captcha/{digest}``): only the demo and the tests do this, never the console, whose
browser refuses that path. Now and then it first types a wrong code, as people do.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from guichets.assist.console import is_loopback

__all__ = ["PersonReport", "ScriptedPerson"]


@dataclass
class PersonReport:
    attempts: int = 0
    passed: int = 0
    wrong_answers: int = 0
    # Wall seconds, as the person waits: from « Commencer » to the captcha on screen, and from
    # the answer sent to the result on screen (bench/assist.py reads them).
    to_captcha: list[float] = field(default_factory=list)
    to_result: list[float] = field(default_factory=list)


class ScriptedPerson:
    """One person in a browser context of the console's Chromium."""

    @property
    def page(self) -> Any:
        return self._page

    def __init__(self, browser: Any, console_url: str, truth_url: str) -> None:
        # Its eyes are a simulator's truth on this machine, never any other address: the scripted
        # person answers only the test bed's captchas.
        if not is_loopback(URL(truth_url).host or ""):
            raise ValueError(
                f"the scripted person reads only a local simulator's truth: {truth_url}"
            )
        self.browser = browser
        self.console_url = console_url.rstrip("/")
        self.truth_url = truth_url.rstrip("/")
        self.report = PersonReport()
        self._context: Any = None
        self._page: Any = None

    async def log_in(self, token: str) -> None:
        self._context = await self.browser.new_context(locale="fr-FR")
        # A person waits as long as the machine needs: with several attempts at once on a small
        # machine, a result may take longer than Playwright's default 30 s.
        self._context.set_default_timeout(180_000)
        self._page = await self._context.new_page()
        await self._page.goto(f"{self.console_url}/?jeton={token}")

    async def close(self) -> None:
        if self._context is not None:
            await self._context.close()

    async def _code(self) -> str | None:
        page = self._page
        image = page.locator("section.captcha img")
        if not await image.count():
            return None
        src = await image.get_attribute("src")
        shown = await self._context.request.get(self.console_url + str(src))
        digest = hashlib.sha256(await shown.body()).hexdigest()
        truth = await self._context.request.get(f"{self.truth_url}/_captcha/{digest}")
        if not truth.ok:
            return None
        code = (await truth.json()).get("code")
        return code if isinstance(code, str) else None

    async def attempt(self, service: str, *, wrong_first: bool = False) -> bool:
        """One attempt on ``service``; True when the site let the session through."""
        page = self._page
        self.report.attempts += 1
        await page.goto(f"{self.console_url}/services/{service}")
        clicked = time.perf_counter()
        async with page.expect_navigation():
            await page.locator("form[action='/tentatives'] button").click()
        self.report.to_captcha.append(time.perf_counter() - clicked)
        code = await self._code()
        if code is not None and wrong_first:
            await self._answer("".join("3" if c != "3" else "4" for c in code))
            self.report.wrong_answers += 1
            code = await self._code()
        if code is not None:
            sent = time.perf_counter()
            await self._answer(code)
            self.report.to_result.append(time.perf_counter() - sent)
        passed = "Le site a accepté le code" in await page.content()
        self.report.passed += passed
        stop = page.locator("form[action$='/fin'] button")
        if await stop.count():
            async with page.expect_navigation():
                await stop.click()
        return passed

    async def _answer(self, code: str) -> None:
        page = self._page
        await page.locator("#code").fill(code)
        async with page.expect_navigation():
            await page.locator("#code").press("Enter")
