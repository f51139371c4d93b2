"""The node's database migrations (Alembic through Flask-Migrate); see docs/migrations.md."""
