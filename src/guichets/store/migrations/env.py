"""Alembic environment for the store.

``Store.open`` runs it on a connection already inside a transaction (``config.attributes``), so
that the version check and the upgrade happen under one lock and commit together. To draft a new
revision, see ``guichets.store.migrate``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine

from guichets.store.schema import UTCDateTime, metadata


def _render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Migrations are frozen history: they spell the stored type, not this package's decorator."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations copy and move tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )


def run() -> None:
    connection = context.config.attributes.get("connection")
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    elif isinstance(connection, Connection):
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    else:
        if not url:
            raise RuntimeError("no connection and no sqlalchemy.url for the migrations")
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                _configure(conn)
                with context.begin_transaction():
                    context.run_migrations()
        finally:
            engine.dispose()


run()
