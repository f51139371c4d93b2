"""Sign-in and sign-out for the node's caseworkers and node admins (``/login``, ``/logout``)."""

from __future__ import annotations

from node.extensions import db
from node.models import User, UserSession
from ponte.login import login_blueprint

CASEWORKER = "caseworker"
NODE_ADMIN = "admin"

blueprint = login_blueprint(db, User, UserSession, landing_endpoint="home.index")
