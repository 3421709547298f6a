"""Captchas a person can read and hear, for the simulated sites.

Every captcha the simulator hands out has a code drawn in a PNG (Pillow: the characters jittered,
rotated and crossed by lines, then waved, so that it looks like a captcha and stays legible to a
person) and a WAV sound of it. No speech engine is used: each character is a distinct pair of tones
(as telephone keys are), 0.25 s each with 0.15 s of silence between characters, which is enough to
test that the console plays the site's sound (docs/simulator.md gives the table).

A captcha is good for one answer only, right or wrong, and for ``CAPTCHA_TTL`` of simulated time.
Tests stand in for the person's eyes through the truth endpoint ``GET /_captcha/{token}``
(server.py), where the token is the captcha's id or the SHA-256 of its image as served: a test
that holds the image it was shown can ask what it says, and the robot's session refuses that path.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import secrets
import struct
import wave
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "ALPHABET",
    "CAPTCHA_TTL",
    "Captcha",
    "CaptchaBook",
    "Verdict",
    "draw_png",
    "tones_of",
    "typed_in_browser",
    "wav_of",
]

# No 0/O, 1/I/L: a person must be able to copy what they see.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CAPTCHA_TTL = timedelta(minutes=5)
KEYS_FIELD = "captchaKeys"  # set by the page's script, counting trusted key presses in the field
_LOW = (400, 470, 540, 610, 680, 750)  # Hz: the row of a character in a 6 x 6 grid
_HIGH = (1000, 1130, 1260, 1390, 1520, 1650)  # Hz: its column
_RATE = 8000
_MAX = 5000  # captchas kept per site: older ones are long expired
_KEPT = timedelta(hours=6)  # long past their expiry: their truth is of no use to anyone


def tones_of(char: str) -> tuple[int, int]:
    """The two frequencies (Hz) that stand for a character in the sound."""
    index = ALPHABET.index(char)
    return _LOW[index // 6], _HIGH[index % 6]


def draw_png(code: str, seed: str) -> bytes:
    """The code drawn as a slightly distorted image; the same seed gives the same bytes."""
    rng = random.Random(seed)
    width, height = 44 * len(code) + 30, 70
    image = Image.new("RGB", (width, height), (236, 240, 246))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        draw.line(
            [(rng.randrange(width), rng.randrange(height)) for _ in range(2)],
            fill=(rng.randrange(120, 200),) * 3,
            width=1,
        )
    font = ImageFont.load_default(size=38)
    for n, char in enumerate(code):
        glyph = Image.new("RGBA", (48, 60), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((8, 6), char, font=font, fill=(20, 30, 90, 255))
        glyph = glyph.rotate(rng.uniform(-18, 18), resample=Image.Resampling.BICUBIC)
        image.paste(glyph, (15 + n * 44 + rng.randint(-3, 3), rng.randint(0, 8)), glyph)
    for _ in range(2):
        y = rng.randrange(20, height - 20)
        draw.line([(0, y), (width, y + rng.randint(-15, 15))], fill=(60, 70, 120), width=2)
    phase, amplitude = rng.uniform(0, math.tau), rng.uniform(2.0, 3.5)
    waved = Image.new("RGB", (width, height), (236, 240, 246))
    for x in range(width):
        shift = round(amplitude * math.sin(phase + x / 9))
        waved.paste(image.crop((x, 0, x + 1, height)), (x, shift))
    out = io.BytesIO()
    waved.filter(ImageFilter.SMOOTH).save(out, format="PNG", optimize=False)
    return out.getvalue()


def wav_of(code: str) -> bytes:
    """The code as a sound: two tones per character, a pause between characters (16-bit mono)."""
    frames = bytearray()
    for char in code:
        low, high = tones_of(char)
        for i in range(int(_RATE * 0.25)):
            t = i / _RATE
            sample = 0.4 * math.sin(math.tau * low * t) + 0.4 * math.sin(math.tau * high * t)
            frames += struct.pack("<h", int(sample * 32767 * 0.9))
        frames += b"\x00\x00" * int(_RATE * 0.15)
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(_RATE)
        sound.writeframes(bytes(frames))
    return out.getvalue()


def typed_in_browser(answer: str, keys: str) -> bool:
    """Whether the page's script counted at least one trusted key press per character typed.

    Only a browser runs the script, and only real (or CDP-dispatched) key events are trusted: an
    answer posted by an HTTP client, or filled into the field without typing, is not typed.
    """
    return keys.isdigit() and int(keys) >= len(answer.strip())


@dataclass
class Captcha:
    id: str
    code: str
    kind: str  # captchetat, controle, ppolice
    scope: str  # the session and the form it was drawn for
    created: datetime
    used: bool = False
    _png: bytes | None = field(default=None, repr=False)

    def png(self) -> bytes:
        if self._png is None:
            self._png = draw_png(self.code, self.id)
        return self._png


class Verdict:
    RIGHT = "right"
    WRONG = "wrong"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class CaptchaBook:
    """The captchas one site handed out, by id and by the digest of their image."""

    def __init__(self) -> None:
        self._by_id: dict[str, Captcha] = {}
        self._by_digest: dict[str, str] = {}
        self._drawn = 0

    def draw(self, kind: str, scope: str, now: datetime, length: int = 6) -> Captcha:
        self._drawn += 1
        if self._drawn % 64 == 0:  # a long run keeps the recent ones, not every one drawn
            self._forget(now - _KEPT)
        if len(self._by_id) > _MAX:
            self._by_id.clear()
            self._by_digest.clear()
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        captcha = Captcha(secrets.token_hex(16), code, kind, scope, now)
        self._by_id[captcha.id] = captcha
        return captcha

    def _forget(self, before: datetime) -> None:
        self._by_id = {k: c for k, c in self._by_id.items() if c.created >= before}
        self._by_digest = {d: k for d, k in self._by_digest.items() if k in self._by_id}

    def get(self, captcha_id: str) -> Captcha | None:
        return self._by_id.get(captcha_id)

    def image(self, captcha_id: str) -> bytes | None:
        """The PNG served for a captcha; its digest becomes a key of the truth."""
        captcha = self._by_id.get(captcha_id)
        if captcha is None:
            return None
        png = captcha.png()
        self._by_digest[hashlib.sha256(png).hexdigest()] = captcha.id
        return png

    def truth(self, token: str) -> Captcha | None:
        """For the truth endpoint: by id, or by the SHA-256 (hex) of the image served."""
        return self._by_id.get(token) or self._by_id.get(self._by_digest.get(token.lower(), ""))

    def check(self, captcha_id: str, scope: str, answer: str, now: datetime) -> str:
        """Judge one answer; the captcha is spent whatever the verdict (no second try)."""
        captcha = self._by_id.get(captcha_id)
        if captcha is None or captcha.scope != scope or captcha.used:
            return Verdict.UNKNOWN
        captcha.used = True
        if now - captcha.created > CAPTCHA_TTL:
            return Verdict.EXPIRED
        given = answer.strip().upper()
        return Verdict.RIGHT if given == captcha.code else Verdict.WRONG
