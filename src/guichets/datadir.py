"""The data directory: what each of its files and folders is called, in one place.

``guichets demo --out DIR``, ``guichets run --home DIR`` and every reading command agree on it:

    DIR/guichets.sqlite     the database (unless --db names another)
    DIR/catalogue.toml      the catalogue that names the services (the demo writes it)
    DIR/evidence/           WARC files, screenshots, orphans (``guichets.evidence.layout``)
    DIR/site/               the public website (``guichets site build``)
    DIR/cache/              what can be recomputed: the site's monthly rows...
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["DB_FILE", "DEFAULT_HOME", "cache", "catalogue", "database", "evidence", "site"]

DEFAULT_HOME: Final = Path("guichets-data")
DB_FILE: Final = "guichets.sqlite"


def database(home: Path) -> Path:
    return Path(home) / DB_FILE


def catalogue(home: Path) -> Path:
    return Path(home) / "catalogue.toml"


def evidence(home: Path) -> Path:
    return Path(home) / "evidence"


def site(home: Path) -> Path:
    return Path(home) / "site"


def cache(home: Path, part: str) -> Path:
    """A cache folder: anything in it can be deleted and is computed again."""
    return Path(home) / "cache" / part
