"""Metadata database (tenants, keys, jobs, definitions): SQLAlchemy 2 models, Alembic migrations."""
