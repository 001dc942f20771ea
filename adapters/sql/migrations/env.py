"""Alembic's entry point for the store's migrations: runs them on the connection it is given.

`adapters.sql.migrate` passes its connection in `config.attributes["connection"]`, inside the
transaction (and lock) that serialises first use; nothing here opens a connection of its own.
"""

from __future__ import annotations

from alembic import context

from adapters.sql.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
