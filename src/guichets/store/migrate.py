"""Alembic, run from the package: no ``alembic.ini``, the scripts are found next to this module.

``Store.open`` calls :func:`upgrade`. To add a revision after changing ``schema.py``::

    .venv/bin/python -m guichets.store.migrate revision "add a column"

which compares ``schema.py`` with a scratch SQLite database at head and writes the draft into
``migrations/versions`` (read it: autogenerate misses some changes, e.g. CHECK constraints).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine

__all__ = ["alembic_config", "heads", "upgrade"]


@contextmanager
def alembic_config(
    connection: Connection | None = None, url: str | None = None
) -> Iterator[Config]:
    """An Alembic config whose scripts are the package's ``migrations`` folder."""
    with as_file(files("guichets.store") / "migrations") as location:
        config = Config()
        config.set_main_option("script_location", str(location))
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        if url is not None:
            config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        if connection is not None:
            config.attributes["connection"] = connection
        yield config


def heads() -> tuple[str, ...]:
    """The revisions this version of guichets knows as the latest."""
    with alembic_config() as config:
        return tuple(ScriptDirectory.from_config(config).get_heads())


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this package's migrations."""
    with alembic_config() as config:
        try:
            return ScriptDirectory.from_config(config).get_revision(revision) is not None
        except CommandError:  # alembic's answer for a revision it has never heard of
            return False


def current(connection: Connection) -> tuple[str, ...]:
    """The revisions the database says it is at (empty for a new database)."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(connection: Connection) -> None:
    """Bring the database to head inside the caller's transaction (which must commit)."""
    with alembic_config(connection) as config:
        command.upgrade(config, "head")


def _revision(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.sqlite'}"
        engine = create_engine(url)
        try:
            with engine.begin() as conn, alembic_config(conn) as config:
                command.upgrade(config, "head")
            with alembic_config(url=url) as config:
                number = len(list(ScriptDirectory.from_config(config).walk_revisions())) + 1
                command.revision(config, message, autogenerate=True, rev_id=f"{number:04d}")
        finally:
            engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "revision":
        _revision(argv[1])
        return 0
    print('usage: python -m guichets.store.migrate revision "what changes"', file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
