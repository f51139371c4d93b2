"""Alembic's environment for the node's database; the rules are in ponte.migrations."""

from ponte.migrations import run_environment

run_environment("node")
