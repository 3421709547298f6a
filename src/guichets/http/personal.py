"""The personal-data filter: no field that carries a person's identity, and no captcha answer,
ever leaves the robot. The session checks every form field and query parameter against it before
anything is sent, so a reader cannot forget it.
"""

from __future__ import annotations

from collections.abc import Iterable

from guichets.http.exchange import ForbiddenRequest

__all__ = ["PERSONAL_FIELDS", "is_personal", "refuse_personal"]

# Field names that carry a person's identity, or answer a captcha meant for a person. A name ending
# in "_" is a prefix. Compared case-insensitively with form fields and query parameters.
PERSONAL_FIELDS = (
    "email",
    "emailcheck",
    "firstname",
    "lastname",
    "phone",
    "telephone",
    "nom",
    "prenom",
    "eZBookingAdditionalField_value_",
    "g-recaptcha-response",
    "captchaUsercode",
    "h-captcha-response",
)


def is_personal(name: str) -> bool:
    lowered = name.strip().lower()
    return any(
        lowered == f.lower() or (f.endswith("_") and lowered.startswith(f.lower()))
        for f in PERSONAL_FIELDS
    )


def refuse_personal(names: Iterable[str], url: str) -> None:
    """Raise before anything is sent if a field name carries identity or a captcha answer."""
    for name in names:
        if is_personal(name):
            raise ForbiddenRequest(
                f"refused to send the field {name!r} to {url}: the robot never sends a person's "
                "identity or a captcha answer (see guichets.http.personal.PERSONAL_FIELDS)"
            )
