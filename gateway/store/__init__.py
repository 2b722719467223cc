"""Storage: the tables, the engine for SQLite or PostgreSQL, and the alembic migrations."""
