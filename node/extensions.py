"""Flask extensions of the node, created unbound and initialised by the app factory."""

from flask_sqlalchemy import SQLAlchemy

from node.models import Base

db = SQLAlchemy(metadata=Base.metadata)
