"""Screenshots of the built site for docs/screenshots/: home and one département page, desktop
(1280×800) and phone (390×844), in headless Debian Chromium, the site served on loopback.

    .venv/bin/python scripts/site_screenshots.py SITE_DIR [DEPARTEMENT] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS
from guichets.site.serve import site_app

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def shoot(site: Path, departement: str, out: Path) -> list[Path]:
    port = _free_port()
    runner = web.AppRunner(site_app(site), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    written = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            for kind, (width, height) in SIZES.items():
                context = await browser.new_context(
                    viewport={"width": width, "height": height}, java_script_enabled=False
                )
                page = await context.new_page()
                for name, path in (("home", ""), ("departement", f"departements/{departement}.html")):
                    await page.goto(f"http://127.0.0.1:{port}/{path}")
                    target = out / f"{name}-{kind}-{width}x{height}.png"
                    await page.screenshot(path=str(target), full_page=False)
                    full = out / f"{name}-{kind}-full.png"
                    await page.screenshot(path=str(full), full_page=True)
                    written += [target, full]
                await context.close()
            await browser.close()
    finally:
        await runner.cleanup()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("site", type=Path)
    parser.add_argument("departement", nargs="?", default="93")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.site, args.departement, args.out)):
        print(path)


if __name__ == "__main__":
    main()
