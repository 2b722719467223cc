"""Storage: the tables, the engine for SQLite or PostgreSQL, and the alembic migrations.

Imports: SQLAlchemy, sqlmodel and alembic; nothing else of ``gateway``.
"""
