"""Persistence: SQLAlchemy tables, Alembic migrations and the SQL stores."""
