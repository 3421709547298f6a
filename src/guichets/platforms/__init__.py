"""Platform readers: one module per booking platform, found by name.

A reader walks a person's path on its platform up to the page that shows availability, and no
further. Readers are pure of storage and scheduling: they get a polite session and return a
:class:`~guichets.platforms.base.Reading`.
"""

from __future__ import annotations

from guichets.platforms.base import Reader, Reading, Target
from guichets.platforms.eappointment import EAppointmentReader
from guichets.platforms.ezbooking import EzBookingReader
from guichets.platforms.rdvpref import RdvPrefReader

__all__ = ["READERS", "Reader", "Reading", "Target", "reader_for"]

READERS: dict[str, Reader] = {
    EzBookingReader.name: EzBookingReader(),
    RdvPrefReader.name: RdvPrefReader(),
    EAppointmentReader.name: EAppointmentReader(),
}


def reader_for(platform: str) -> Reader:
    """The reader of a platform; a clear error names the known ones."""
    try:
        return READERS[platform]
    except KeyError:
        known = ", ".join(sorted(READERS))
        raise ValueError(f"no reader for platform {platform!r}; known: {known}") from None
