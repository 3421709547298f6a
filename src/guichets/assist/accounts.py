"""The console's accounts: a login, an Argon2id hash of its password, an opaque person id.

Observations carry the person id, never the login (which may be a name): the id is drawn at
random when the account is made. The file (``HOME/assist/accounts.json``, mode 0600) holds no
password, only argon2-cffi's hashes, which carry their own salt and parameters.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from guichets.files import atomic_file

__all__ = ["Account", "Accounts", "new_person_id"]

_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
MIN_PASSWORD = 10


def new_person_id() -> str:
    """An opaque id: nothing in it says who the person is."""
    return "p-" + secrets.token_hex(6)


@dataclass(frozen=True)
class Account:
    login: str
    person: str
    hash: str


class Accounts:
    """The accounts file; read on each login, so that an account added meanwhile works."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = PasswordHasher()
        # A hash to verify against when the login is unknown: the answer takes as long.
        self._decoy = self._hasher.hash(secrets.token_hex(16))

    def _load(self) -> dict[str, Account]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return {login: Account(login, a["person"], a["hash"]) for login, a in data.items()}

    def _save(self, accounts: dict[str, Account]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {a.login: {"person": a.person, "hash": a.hash} for a in accounts.values()}, indent=2
        )
        with atomic_file(self.path, "w", permissions=0o600) as out:
            out.write(text)

    def add(self, login: str, password: str) -> Account:
        if not _LOGIN.match(login):
            raise ValueError("a login is 2 to 64 letters, digits, dots, dashes, @ or _")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
        accounts = self._load()
        if login in accounts:
            raise ValueError(f"the account {login!r} exists")
        account = Account(login, new_person_id(), self._hasher.hash(password))
        accounts[login] = account
        self._save(accounts)
        return account

    def check(self, login: str, password: str) -> Account | None:
        """The account when the password is right, else None (in about the same time)."""
        account = self._load().get(login)
        try:
            self._hasher.verify(account.hash if account else self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return account

    def __len__(self) -> int:
        return len(self._load())
