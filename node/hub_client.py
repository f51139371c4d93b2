"""The node's HTTP client for the hub: enrolment, access tokens, the attested key directory.

Everything the hub says about keys is checked against the hub key pinned at enrolment; the
node never takes a peer's key on the hub's word alone without the hub's signature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from node.oauth_client import token_request_form
from protocol import Attested, NodeIdentity, ProtocolError, PublicKeyRecord, verify_attestation

TIMEOUT = 15
TOKEN_MARGIN = 30  # renew a token this many seconds before it expires


class HubError(Exception):
    """The hub refused a request, or could not be reached; ``code`` names the refusal."""

    def __init__(self, message: str, status: int = 0, code: str = "unreachable") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class HubClient:
    base_url: str
    http: requests.Session = field(default_factory=requests.Session)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, self.url(path), timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise HubError(f"cannot reach the hub at {self.base_url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise _refusal(response.status_code, body)
        return body

    def hub_key(self) -> PublicKeyRecord:
        body = self._call("GET", "/api/v1/hub/key")
        try:
            return PublicKeyRecord.from_dict(body.get("key_record"))
        except ProtocolError as exc:
            raise HubError(f"the hub sent a malformed key record: {exc}", 502, "bad_hub") from exc

    def enrol(self, invitation: str, record: dict[str, Any], proof: str) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/v1/enrol",
            json={"invitation": invitation, "key_record": record, "proof": proof},
        )

    def access_token(self, identity: NodeIdentity, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached and cached[1] > time.time() + TOKEN_MARGIN:
            return cached[0]
        token_url = self.url("/oauth/token")
        body = self._call(
            "POST", "/oauth/token", data=token_request_form(identity, token_url, scope)
        )
        token = str(body["access_token"])
        self._tokens[scope] = (token, time.time() + float(body.get("expires_in", 60)))
        return token

    def node_keys(
        self, identity: NodeIdentity, hub: PublicKeyRecord, node_id: str
    ) -> list[Attested]:
        """A peer's key versions, each verified against the pinned hub key."""
        token = self.access_token(identity, "relay")
        body = self._call(
            "GET", f"/api/v1/nodes/{node_id}/keys", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            attested = [verify_attestation(hub, document) for document in body.get("keys", [])]
        except ProtocolError as exc:
            raise HubError(
                f"the hub's attestation for {node_id} does not verify: {exc}",
                502,
                "bad_attestation",
            ) from exc
        if any(item.record.node_id != node_id for item in attested):
            raise HubError(
                f"the hub sent keys of another node for {node_id}", 502, "bad_attestation"
            )
        return attested

    def register_next_key(
        self, current: NodeIdentity, hub: PublicKeyRecord, new: PublicKeyRecord, signature: str
    ) -> Attested:
        """Send the next key version (signed by ``current``); return its checked attestation."""
        token = self.access_token(current, "relay")
        body = self._call(
            "POST",
            f"/api/v1/nodes/{current.node_id}/keys",
            json={"key_record": new.to_dict(), "signature": signature},
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            attested = verify_attestation(hub, body.get("attestation"))
        except ProtocolError as exc:
            raise HubError(
                f"the hub's attestation does not verify: {exc}", 502, "bad_attestation"
            ) from exc
        if attested.record != new:
            raise HubError("the hub attested another key than ours", 502, "bad_attestation")
        self._tokens.clear()  # tokens were issued against the old key
        return attested

    def organisation(self, organisation_id: str) -> dict[str, Any]:
        """The organisation's public directory entry (as the hub's API shows it)."""
        return self._call("GET", f"/api/v1/organisations/{quote(organisation_id, safe='')}")

    def search(self, text: str, per_page: int = 10) -> list[dict[str, Any]]:
        """The public directory search's results (organisation, services, score, highlights)."""
        body = self._call("GET", "/api/v1/search", params={"q": text, "per_page": per_page})
        return list(body.get("results", []))

    def taxonomy_terms(self) -> list[dict[str, Any]]:
        """The hub's service types (HSDS taxonomy terms: id, code, name, ...)."""
        body = self._call("GET", "/hsds/taxonomy_terms", params={"per_page": 100})
        return list(body.get("contents", []))

    def update_profile(self, identity: NodeIdentity, document: dict[str, Any]) -> dict[str, Any]:
        """Send a signed directory update (protocol.profile_update); the hub answers with the
        organisation's entry as it is now."""
        organisation_id = quote(str(document["statement"]["organisation_id"]), safe="")
        token = self.access_token(identity, "directory:write")
        return self._call(
            "POST",
            f"/api/v1/organisations/{organisation_id}/profile",
            json=document,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _authorised(
        self, identity: NodeIdentity, scope: str, method: str, path: str, **kwargs: Any
    ) -> Any:
        """A call with a bearer token of ``scope``."""
        token = self.access_token(identity, scope)
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self._call(method, path, headers=headers, **kwargs)

    def _relay(self, identity: NodeIdentity, method: str, path: str, **kwargs: Any) -> Any:
        return self._authorised(identity, "relay", method, f"/api/v1/relay{path}", **kwargs)

    # -- publications ------------------------------------------------------------------------

    def publications(self, after: int, limit: int) -> dict[str, Any]:
        """Signed revisions of public items after ``after``, in signing order (no token)."""
        return self._call("GET", "/api/v1/publications", params={"after": after, "limit": limit})

    def contribute(self, identity: NodeIdentity, document: dict[str, Any]) -> dict[str, Any]:
        """Send a signed contribution to the secretariat's moderation queue."""
        return self._authorised(
            identity, "contribute", "POST", "/api/v1/contributions", json=document
        )

    def contributions(self, identity: NodeIdentity) -> dict[str, Any]:
        """What became of this node's contributions."""
        return self._authorised(identity, "contribute", "GET", "/api/v1/contributions")

    def publication_file(self, identity: NodeIdentity | None, item_id: str, max_size: int) -> bytes:
        """An item's file, at most ``max_size`` + 1 bytes (enough to tell a longer one);
        with ``identity``, asked for with a feeds:read token (members-only items)."""
        headers = {}
        if identity is not None:
            headers["Authorization"] = f"Bearer {self.access_token(identity, 'feeds:read')}"
        url = self.url(f"/api/v1/publications/{quote(item_id, safe='')}/file")
        try:
            with self.http.get(url, headers=headers, timeout=TIMEOUT, stream=True) as response:
                if response.status_code >= 400:
                    raise _refusal(response.status_code, _json_or_empty(response))
                return _read_at_most(response, max_size)
        except requests.RequestException as exc:
            raise HubError(f"cannot reach the hub at {self.base_url}: {exc}") from exc

    def post_envelope(self, identity: NodeIdentity, wire: bytes) -> dict[str, Any]:
        """Hand a sealed envelope to the relay (idempotent: a repeat returns the first result)."""
        return self._relay(
            identity,
            "POST",
            "/envelopes",
            data=wire,
            headers={"Content-Type": "application/octet-stream"},
        )

    def inbox(self, identity: NodeIdentity, after: int, limit: int = 50) -> dict[str, Any]:
        """Envelopes waiting for this node with ``seq > after``, oldest first."""
        return self._relay(identity, "GET", "/inbox", params={"after": after, "limit": limit})

    def ack(self, identity: NodeIdentity, ids: list[str]) -> dict[str, Any]:
        """Tell the relay these inbox messages are handled, so it deletes them."""
        return self._relay(identity, "POST", "/ack", json={"ids": ids})

    def post_blob(
        self, identity: NodeIdentity, recipient: str, blob_id: str, expires: int, data: bytes
    ) -> dict[str, Any]:
        """Hand an encrypted attachment blob to the relay (idempotent per id)."""
        params = {"recipient": recipient, "id": blob_id, "expires": expires}
        headers = {"Content-Type": "application/octet-stream"}
        return self._relay(identity, "POST", "/blobs", params=params, data=data, headers=headers)

    def get_blob(self, identity: NodeIdentity, sender: str, blob_id: str) -> bytes:
        """The bytes of a blob waiting for this node."""
        token = self.access_token(identity, "relay")
        path = f"/api/v1/relay/blobs/{quote(sender, safe='')}/{quote(blob_id, safe='')}"
        try:
            response = self.http.get(
                self.url(path), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise HubError(f"cannot reach the hub at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _refusal(response.status_code, _json_or_empty(response))
        return response.content

    def drop_blob(self, identity: NodeIdentity, sender: str, blob_id: str) -> None:
        """This node has stored the blob: the relay drops its bytes."""
        path = f"/blobs/{quote(sender, safe='')}/{quote(blob_id, safe='')}"
        self._relay(identity, "DELETE", path)

    def notices(self, identity: NodeIdentity, after: int, limit: int = 50) -> dict[str, Any]:
        """What became of this node's sent envelopes (delivered or expired)."""
        return self._relay(identity, "GET", "/notices", params={"after": after, "limit": limit})


def _refusal(status: int, body: dict[str, Any]) -> HubError:
    code = body.get("code") or body.get("error") or "refused"
    message = body.get("detail") or body.get("error_description") or body.get("title")
    return HubError(str(message or f"the hub answered {status}"), status, str(code))


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _read_at_most(response: requests.Response, size: int) -> bytes:
    """Up to ``size`` + 1 bytes: enough to tell a longer file, never an unbounded read."""
    data = bytearray()
    for chunk in response.iter_content(64 * 1024):
        data += chunk
        if len(data) > size:
            break
    return bytes(data[: size + 1])
