"""The personal-data filter: no field that carries a person's identity, and no captcha answer,
ever leaves the robot. The session checks every form field and query parameter against it before
anything is sent, on every redirect hop too, so a reader cannot forget it.

Names are compared after folding: lowercase, without ``-``, ``_``, ``.``, spaces or brackets, so
``e-mail``, ``E_Mail`` and ``user[email]`` are all ``email``. A folded name is personal when it is
one of the exact names, or holds one of the roots (``courriel``, ``captcha``, ``telephone``...):
a site may spell a field as it likes, the robot never has a reason to send any of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarl import URL

from guichets.http.exchange import ForbiddenRequest

__all__ = [
    "PERSONAL_FIELDS",
    "PERSONAL_NAMES",
    "PERSONAL_ROOTS",
    "TRUTH_PATHS",
    "is_personal",
    "refuse_personal",
    "refuse_truth",
]

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


# Folded names that are personal as a whole (too short to be searched inside other names).
PERSONAL_NAMES = frozenset({"nom", "prenom", "name", "tel", "gsm", "mobile", "portable", "sexe",
                            "civilite", "dob", "ssn", "nir", "iban"})  # fmt: skip
# Folded roots: a name holding one is personal, whatever surrounds it.
PERSONAL_ROOTS = (
    "mail",  # email, e-mail, courriel's English, adressemail, mailaddress
    "courriel",
    "phone",  # phone, telephone, phonenumber
    "telephone",
    "firstname",
    "lastname",
    "surname",
    "givenname",
    "familyname",
    "fullname",
    "username",
    "password",
    "motdepasse",
    "prenom",
    "nomdenaissance",
    "nomdusage",
    "naissance",  # date, lieu de naissance
    "birth",
    "passport",
    "passeport",
    "nationalit",
    "agdref",  # the foreigner's file number
    "numeroetranger",
    "titresejour",
    "captcha",  # captcha, captcha_code, captchaCode, g-recaptcha-response, h-captcha-response
    "bdc",  # BotDetect's captcha fields (CaptchEtat)
    "turnstile",
    "additionalfield",  # the legacy module's personal fields
)
_FOLD = str.maketrans("", "", "-_. []{}:")


def _fold(name: str) -> str:
    return name.strip().lower().translate(_FOLD)


def is_personal(name: str) -> bool:
    """Whether a form field or query parameter name may carry identity or a captcha answer."""
    folded = _fold(name)
    if folded in PERSONAL_NAMES or any(root in folded for root in PERSONAL_ROOTS):
        return True
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
