"""The node's front page: who is signed in, and this node's membership of the hub."""

from __future__ import annotations

from flask import Blueprint, render_template

from node.keys import has_keys, node_keys
from protocol import fingerprint

blueprint = Blueprint("home", __name__)


@blueprint.get("/")
def index() -> str:
    membership = None
    if has_keys():
        keys = node_keys()
        membership = {
            "organisation": keys.enrolment.organisation_name,
            "node_id": keys.enrolment.node_id,
            "hub_url": keys.enrolment.hub_url,
            "fingerprint": fingerprint(keys.identities[-1].public_record()),
            "hub_fingerprint": fingerprint(keys.enrolment.hub_record),
        }
    return render_template("home.html", membership=membership)
