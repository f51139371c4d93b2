"""Constraint names every Ponte table gets, on every database.

Alembic can only alter or drop a constraint it can name. Left to themselves, SQLite keeps
constraints unnamed and PostgreSQL invents names, so a migration written on one would not run
on the other. These templates spell out PostgreSQL's own defaults (``node_key_pkey``,
``node_key_node_id_fkey``, ``node_key_node_id_key_version_key``): databases PostgreSQL made
before Ponte named its constraints already carry exactly these names.
"""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",  # SQLAlchemy's default for index=True, kept
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}


def named_metadata() -> MetaData:
    """A MetaData whose constraints are named by ``NAMING_CONVENTION``."""
    return MetaData(naming_convention=NAMING_CONVENTION)
