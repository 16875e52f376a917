"""The tokens in private bucket links (``Links``, WIRE §4.7 ``?token=``): minted per bucket.

Upstream put the caller's own token into the link, so a shared link was a credential for
everything the caller may do (paired with any user API key of the hub, the whole API). Here the
hub mints, for the caller's identity, a token signed by a key derived from the hub identity *and
the bucket key* (an Ed25519 seed from the hub's deterministic signature of both): the gateway
accepts it for that bucket only, and the gRPC API, which checks tokens against the hub identity,
refuses it. Nothing is stored; the same inputs always give the same key.
"""

from __future__ import annotations

import functools
import hashlib

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.auth.token import issue_token

LABEL = b"bucketfs bucket link token v1\0"


class LinkTokens:
    """Mint and check the link tokens of one hub."""

    def __init__(self, hub_identity: Identity) -> None:
        self._hub = hub_identity
        self._signer = functools.lru_cache(maxsize=1024)(self._derive)

    def _derive(self, bucket_key: str) -> Identity:
        seed = hashlib.sha256(self._hub.sign(LABEL + bucket_key.encode())).digest()
        return Identity.from_seed(seed)

    def issue(self, who: str, bucket_key: str) -> str:
        """A token for identity ``who`` (a public key string) that opens ``bucket_key``'s links."""
        return issue_token(self._signer(bucket_key), PublicKey.from_string(who))

    def key_for(self, bucket_key: str) -> PublicKey:
        """The key the link tokens of ``bucket_key`` are signed with."""
        return self._signer(bucket_key).public_key
