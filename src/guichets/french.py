"""French dates as the pages, the press summary and the booking sites write them: one place.

The robot's readers parse the month names of booking pages with :data:`MONTH_NUMBERS`; the
publications print them with :func:`day_fr` and :func:`month_fr`. (The simulator keeps its own
list on purpose: a test bed that shares the robot's vocabulary could not catch a mistake in it.)
"""

from __future__ import annotations

from datetime import date
from typing import Final

__all__ = ["MONTHS", "MONTH_NUMBERS", "NBSP", "WEEKDAYS", "day_fr", "month_fr"]

NBSP: Final = (
    "\u00a0"  # before « % », « : », « ; » and between thousands, as French typography wants
)
MONTHS: Final = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)  # fmt: skip
MONTH_NUMBERS: Final = {name: number for number, name in enumerate(MONTHS, start=1)}
WEEKDAYS: Final = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def day_fr(day: date, year: bool = False) -> str:
    """``1er octobre``, ``3 octobre 2026`` with ``year``."""
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {MONTHS[day.month - 1]}" + (f" {day.year}" if year else "")


def month_fr(day: date) -> str:
    """``octobre 2026``."""
    return f"{MONTHS[day.month - 1]} {day.year}"
