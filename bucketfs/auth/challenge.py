"""The GetToken challenge exchange of WIRE.md §2.5, without transport.

The client presents its public key; the hub answers a 32-byte random challenge; the client signs
it with its identity (:func:`answer_challenge`); the hub checks the signature
(:func:`check_challenge`) and then issues a token (:mod:`bucketfs.auth.token`). The gRPC stream
itself lives in the remote client and in the hub.
"""

from __future__ import annotations

import secrets

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.errors import Unauthenticated

CHALLENGE_SIZE = 32


class ChallengeFailed(Unauthenticated):
    """The challenge signature is not the presented key's (wire: UNKNOWN ``bad signature``)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("bad signature", wire_code="UNKNOWN")
        self.detail = detail or "challenge signature does not verify"


def new_challenge() -> bytes:
    """32 fresh random bytes for the hub to send."""
    return secrets.token_bytes(CHALLENGE_SIZE)


def answer_challenge(identity: Identity, challenge: bytes) -> bytes:
    """The client's answer: the Ed25519 signature of the challenge bytes."""
    return identity.sign(challenge)


def check_challenge(key: PublicKey, challenge: bytes, signature: bytes) -> None:
    """Raise :class:`ChallengeFailed` unless ``signature`` is ``key``'s signature of ``challenge``."""
    if not challenge:
        raise ChallengeFailed("empty challenge")
    if not key.verify(challenge, signature):
        raise ChallengeFailed()
