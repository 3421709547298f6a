"""Platform readers: one module per booking platform, found by name.

A reader walks a person's path on its platform up to the page that shows availability, and no
further. Readers are pure of storage and scheduling: they get a polite session and return a
:class:`~guichets.platforms.base.Reading`.
"""

from __future__ import annotations

from guichets.http import Guard
from guichets.platforms import eappointment, ezbooking, rdvpref
from guichets.platforms.base import Reader, Reading, Target
from guichets.platforms.eappointment import EAppointmentReader
from guichets.platforms.ezbooking import EzBookingReader
from guichets.platforms.rdvpref import RdvPrefReader

__all__ = ["GUARDS", "READERS", "Reader", "Reading", "Target", "guard_for", "reader_for"]

READERS: dict[str, Reader] = {
    EzBookingReader.name: EzBookingReader(),
    RdvPrefReader.name: RdvPrefReader(),
    EAppointmentReader.name: EAppointmentReader(),
}


# Each platform's check of a request before it is sent; the assisted browser applies it to every
# request of its page, as the readers apply it to theirs.
GUARDS: dict[str, Guard] = {
    EzBookingReader.name: ezbooking.guard,
    RdvPrefReader.name: rdvpref.guard,
    EAppointmentReader.name: eappointment.guard,
}


def guard_for(platform: str) -> Guard:
    reader_for(platform)  # the same error for an unknown platform
    return GUARDS[platform]


def reader_for(platform: str) -> Reader:
    """The reader of a platform; a clear error names the known ones."""
    try:
        return READERS[platform]
    except KeyError:
        known = ", ".join(sorted(READERS))
        raise ValueError(f"no reader for platform {platform!r}; known: {known}") from None
