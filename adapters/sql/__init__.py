"""The SQL store: `SqlStore(url)` on SQLite or PostgreSQL.

Its parts: `schema` (the tables), `codec` (rows to domain records and back), `statements`
(every statement it runs), `direct` (how they run on the driver's cursor), `store` (the
`Store` port), `migrate` and `migrations/` (Alembic).
"""

from adapters.sql import migrate
from adapters.sql.store import SqlStore, shown_url

__all__ = ["SqlStore", "migrate", "shown_url"]
