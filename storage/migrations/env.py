"""Alembic environment: runs migrations over a synchronous connection."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine, pool

from storage.tables import metadata

config = context.config
target_metadata = metadata


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> Literal[False]:
    """A new migration that uses SQLModel's column types (`sqlmodel.sql.sqltypes.AutoString()`,
    `UTCDateTime()`: what `str` and `datetime` fields get) imports sqlmodel; the rendering
    itself stays Alembic's."""
    if kind == "type" and type(item).__module__.startswith("sqlmodel"):
        autogen_context.imports.add("import sqlmodel")
    return False


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
