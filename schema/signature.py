"""Self-certifying cluster ids: the key, the id, the signature header and its check, as one contract.

A volunteer started with ``--cluster-id=auto`` derives an Ed25519 key pair
from its cluster's kube-system namespace UID, and its cluster id from the
public key. It signs each report body, and the gateway checks the signature
against the id. This module is the only importer of ``cryptography``; the
volunteer signs and the gateway verifies with the same functions, so the two
cannot drift apart.

Construction (every string is ASCII, ``||`` is concatenation)::

    seed       = HKDF-SHA256(ikm=uid, salt="spartakus", info="spartakus cluster key v1", length=32)
    key        = Ed25519 private key with that 32-byte seed (RFC 8032)
    cluster id = "ed25519-" || base32(SHA-256("spartakus cluster id v1" || 0x00 || public key)[:20]), lower case
    signature  = Ed25519(key, "spartakus report v1" || 0x00 || the JSON body exactly as POSTed, before gzip)
    header     = X-Spartakus-Signature: ed25519=<base64url public key>; sig=<base64url signature>

Base64url is unpadded. The prefixes keep a signature over a report from
being valid for any other message, and the key from being used elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HEADER: Final = "X-Spartakus-Signature"
"""The request header carrying the public key and the signature."""
ID_PREFIX: Final = "ed25519-"
"""Every self-certifying cluster id starts with it; no other id may."""
_ID_HASH_BYTES: Final = 20
ID_LENGTH: Final = len(ID_PREFIX) + 32
"""A self-certifying id is the prefix and 32 base32 characters (160 bits of the key's hash)."""
_KEY_SALT: Final = b"spartakus"
_KEY_INFO: Final = b"spartakus cluster key v1"
_ID_DOMAIN: Final = b"spartakus cluster id v1\x00"
_SIGNED_DOMAIN: Final = b"spartakus report v1\x00"
_KEY_BYTES: Final = 32
_SIGNATURE_BYTES: Final = 64
_HEADER_MAX: Final = 256


class SignatureRefusedError(ValueError):
    """A report whose signature does not prove its cluster id; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ClusterKey:
    """A cluster's signing key; only its public half and signatures ever leave this object.

    ``repr`` and ``str`` show the cluster id alone, so that logging the object cannot leak the key.
    """

    __slots__ = ("_private", "cluster_id", "public_key")

    def __init__(self, uid: str) -> None:
        seed = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_KEY_SALT, info=_KEY_INFO).derive(uid.encode())
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: bytes = self._private.public_key().public_bytes_raw()
        self.cluster_id: str = cluster_id_for_key(self.public_key)

    def header(self, body: bytes) -> str:
        """The ``X-Spartakus-Signature`` value for ``body``, the exact JSON bytes to be POSTed."""
        signature = self._private.sign(_SIGNED_DOMAIN + body)
        return f"ed25519={_b64(self.public_key)}; sig={_b64(signature)}"

    def __repr__(self) -> str:
        return f"ClusterKey(cluster_id={self.cluster_id!r})"

    __str__ = __repr__


def cluster_id_for_key(public_key: bytes) -> str:
    """The self-certifying cluster id of a raw 32-byte Ed25519 public key."""
    digest = hashlib.sha256(_ID_DOMAIN + public_key).digest()[:_ID_HASH_BYTES]
    return ID_PREFIX + base64.b32encode(digest).decode().lower()


def is_self_certifying(cluster_id: str) -> bool:
    """Whether ``cluster_id`` claims to be derived from a key (and so must come signed)."""
    return cluster_id.startswith(ID_PREFIX)


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    """A parsed ``X-Spartakus-Signature`` value."""

    public_key: bytes
    signature: bytes


def parse_header(value: bytes | str) -> SignatureHeader:
    """The key and signature of a header value.

    Raises:
        SignatureRefusedError: 400 when the value is not ``ed25519=<key>; sig=<signature>``.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > _HEADER_MAX:
        raise _malformed("it is too long")
    fields: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, data = item.strip().partition("=")
        if not sep or name in fields:
            raise _malformed("expected ed25519=<key>; sig=<signature>")
        fields[name] = data
    if set(fields) != {"ed25519", "sig"}:
        raise _malformed("expected ed25519=<key>; sig=<signature>")
    public_key, signature = _unb64(fields["ed25519"]), _unb64(fields["sig"])
    if len(public_key) != _KEY_BYTES or len(signature) != _SIGNATURE_BYTES:
        raise _malformed(f"the key must be {_KEY_BYTES} bytes and the signature {_SIGNATURE_BYTES}")
    return SignatureHeader(public_key, signature)


def verify_report(cluster_id: str, header: bytes | str | None, body: bytes | bytearray) -> bool:
    """Whether the report ``body`` of ``cluster_id`` is verified; refuse it when its id demands a signature.

    An id that is not self-certifying, sent without the header, is accepted
    unverified: the original volunteer and explicit ids sign nothing.

    Raises:
        SignatureRefusedError: 401 for a self-certifying id without a signature, 403 for a signature by
        another key or over other bytes, 400 for a malformed header or a header on an id that is not
        self-certifying.
    """
    if header is None:
        if is_self_certifying(cluster_id):
            raise SignatureRefusedError(
                401, f"cluster id {cluster_id[:ID_LENGTH]!r} is derived from a key: its reports must be signed"
            )
        return False
    if not is_self_certifying(cluster_id):
        raise SignatureRefusedError(
            400, f"{HEADER} was sent, but the cluster id is not one derived from a key ({ID_PREFIX}...)"
        )
    parsed = parse_header(header)
    if cluster_id_for_key(parsed.public_key) != cluster_id:
        raise SignatureRefusedError(403, "the signing key is not the key this cluster id was derived from")
    try:
        Ed25519PublicKey.from_public_bytes(parsed.public_key).verify(parsed.signature, _SIGNED_DOMAIN + body)
    except (InvalidSignature, ValueError) as e:
        raise SignatureRefusedError(403, "the signature does not match the body as received") from e
    return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise _malformed("the key and the signature must be unpadded base64url") from e


def _malformed(why: str) -> SignatureRefusedError:
    return SignatureRefusedError(400, f"malformed {HEADER} header: {why}")
