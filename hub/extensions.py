"""Flask extensions of the hub, created unbound and initialised by the app factory."""

from flask_sqlalchemy import SQLAlchemy

from directory.models import Base

# One metadata for the hub: the directory's tables and the hub's own (which also use Base).
db = SQLAlchemy(metadata=Base.metadata)
