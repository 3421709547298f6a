"""The personal-data filter: no field that carries a person's identity, and no captcha answer,
ever leaves the robot. The session checks every form field and query parameter against it before
anything is sent, so a reader cannot forget it.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarl import URL

from guichets.http.exchange import ForbiddenRequest

__all__ = ["PERSONAL_FIELDS", "TRUTH_PATHS", "is_personal", "refuse_personal", "refuse_truth"]

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
    "captcha",
    "captchacode",
)
# The simulator's truth about captchas, which stands in for a person's eyes in tests: the robot
# never asks it, even by a redirect (checked on every hop).
TRUTH_PATHS = ("/_captcha/",)


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


def refuse_truth(target: URL) -> None:
    """Raise before anything is sent to the simulator's captcha truth."""
    if any(part in target.path for part in TRUTH_PATHS):
        raise ForbiddenRequest(
            f"refused to ask {target}: what a captcha says is for a person's eyes only"
        )
