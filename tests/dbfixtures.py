"""Database fixtures: the same tests on SQLite (in tmp_path) and on PostgreSQL.

PostgreSQL comes from ``GUICHETS_TEST_PG`` (``make test`` sets it). Each test gets a schema of its
own, put first on the search path through the URL, and dropped afterwards: tests never see each
other's rows, and a second run starts as clean as the first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

PG_ENV = "GUICHETS_TEST_PG"
PG_MISSING = (
    f"PostgreSQL tests need {PG_ENV}, a SQLAlchemy URL such as "
    "postgresql+psycopg://postgres@127.0.0.1:5432/guichets_test (make test sets it)"
)


def pg_base_url() -> str:
    """The server from the environment, or a skip that says how to provide one."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(PG_MISSING)
    return url


@contextmanager
def pg_schema(base: str, prefix: str = "guichets_test") -> Iterator[str]:
    """A fresh schema on the server at ``base``; yields a URL whose search_path is that schema.
    ``prefix`` names who made it (the benchmarks use their own), so a leftover is traced back."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    parsed = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'guichets.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database, once per backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with pg_schema(pg_base_url()) as url:
            yield url
