"""``/partners``: partner nodes' keys, key-change warnings, and fingerprint checks."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from node.extensions import db
from node.hub_client import HubError
from node.keys import current_identity, node_keys
from node.peers import all_peers, confirm_peer, latest_record, record_peer_keys
from ponte.login import current_user, login_required
from protocol import safety_number
from protocol.keys import NODE_ID_PATTERN

blueprint = Blueprint("partners", __name__, url_prefix="/partners")


def refresh_peer(node_id: str) -> None:
    """Fetch a partner's attested keys from the hub (verified against the pinned hub key)."""
    keys = node_keys()
    attested = keys.hub.node_keys(current_identity(), keys.enrolment.hub_record, node_id)
    record_peer_keys(db.session, node_id, attested)


@blueprint.get("/")
@login_required()
def list_partners() -> ResponseReturnValue:
    own = current_identity().public_record()
    peers = all_peers(db.session)
    numbers = {
        peer.node_id: safety_number(own, latest_record(db.session, peer.node_id)) for peer in peers
    }
    return render_template("partners.html", peers=peers, safety_numbers=numbers)


@blueprint.post("/refresh")
@login_required()
def refresh() -> ResponseReturnValue:
    node_id = request.form.get("node_id", "").strip()
    if not NODE_ID_PATTERN.fullmatch(node_id):
        flash(_("That is not a node id (it looks like node-1a2b3c…)."), "error")
    else:
        try:
            refresh_peer(node_id)
        except HubError as error:
            flash(_("The hub could not give this partner's keys: %(error)s", error=error), "error")
    return redirect(url_for("partners.list_partners"))


@blueprint.post("/<node_id>/confirm")
@login_required()
def confirm(node_id: str) -> ResponseReturnValue:
    try:
        version = int(request.form.get("key_version", ""))
        confirm_peer(db.session, node_id, version, current_user().email)
    except (ValueError, LookupError):
        flash(_("This partner key is not known here."), "error")
    return redirect(url_for("partners.list_partners"))
