"""Credential values at rest: AES-256-GCM under a master key, with key ids so keys can rotate.

``OBLIVION_MASTER_KEY`` holds one or more ``keyid:base64`` entries separated by commas. The first
key encrypts; every key decrypts, so a new key is rolled out by putting it first and keeping the old
one until every credential has been written again. The associated data binds a ciphertext to its
workgroup and name, so a row copied onto another credential fails to decrypt. Fingerprints are keyed
hashes: they show that a value changed without revealing it or allowing offline guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from oblivion_nexus.errors import NexusError

# 96-bit nonces are what GCM is specified for; random ones are safe far beyond our write volume.
_NONCE_BYTES = 12
# 16 hex digits (64 bits) tell rotated values apart while revealing nothing useful.
_FINGERPRINT_HEX = 16
_FINGERPRINT_CONTEXT = b"oblivion credential fingerprint v1"
# scrypt cost for client secrets: about 40 ms and 16 MiB per check on a 2-core machine. The operator
# generates the secrets at random, so the cost is defence in depth should the table leak, and a token
# is fetched once per TTL, not per request. Parameters are stored with each hash, so they can rise.
_SCRYPT_LOG2_N = 14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_SALT_BYTES = 16
_DIGEST_BYTES = 32


class CryptoError(NexusError):
    """A master key is malformed, or a ciphertext cannot be decrypted with the keys we hold."""


@dataclass(frozen=True, slots=True)
class SealedValue:
    """A credential value as stored: never the value itself."""

    ciphertext: bytes
    nonce: bytes
    key_id: str


@dataclass(frozen=True, slots=True)
class MasterKeys:
    """The parsed ``OBLIVION_MASTER_KEY``: ``keys[0]`` encrypts, all of them decrypt."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, spec: str) -> MasterKeys:
        """Parse ``keyid:base64[,keyid:base64...]``; an entry without an id gets one derived from the key."""
        keys: list[tuple[str, bytes]] = []
        for entry in spec.split(","):
            key_id, _, b64 = entry.strip().rpartition(":")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError as e:
                raise CryptoError("master key entries must be base64, optionally prefixed `keyid:`") from e
            if len(raw) != 32:
                raise CryptoError("each master key must decode to 32 bytes (AES-256)")
            key_id = key_id or hashlib.sha256(raw).hexdigest()[:8]
            if any(existing == key_id for existing, _ in keys):
                raise CryptoError(f"master key id {key_id!r} appears twice")
            keys.append((key_id, raw))
        if not keys:
            raise CryptoError("no master key given")
        return cls(tuple(keys))

    @property
    def current_key_id(self) -> str:
        return self.keys[0][0]

    def __repr__(self) -> str:
        return f"MasterKeys(key_ids={[k for k, _ in self.keys]!r})"

    def _key(self, key_id: str) -> bytes:
        for candidate, raw in self.keys:
            if candidate == key_id:
                return raw
        raise CryptoError(f"no master key with id {key_id!r}; was it removed before re-encryption?")

    def seal(self, value: str, *, workgroup: str, name: str) -> SealedValue:
        key_id, key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, value.encode(), _aad(workgroup, name))
        return SealedValue(ciphertext=ciphertext, nonce=nonce, key_id=key_id)

    def open(self, sealed: SealedValue, *, workgroup: str, name: str) -> str:
        key = self._key(sealed.key_id)
        try:
            plain = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, _aad(workgroup, name))
        except InvalidTag as e:
            raise CryptoError(
                f"credential {workgroup}/{name} does not decrypt under key {sealed.key_id!r}"
            ) from e
        return plain.decode()

    def fingerprint(self, value: str) -> str:
        """A short keyed hash of ``value`` under the encrypting key; changes with the value or that key."""
        fp_key = hmac.new(self.keys[0][1], _FINGERPRINT_CONTEXT, hashlib.sha256).digest()
        digest = hmac.new(fp_key, value.encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest[:_FINGERPRINT_HEX]}"


def hash_client_secret(secret: str) -> str:
    """A salted scrypt hash of an agent's client secret, with its cost parameters, for storage."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(secret, salt, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_SCRYPT_LOG2_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_client_secret(secret: str, stored: str) -> bool:
    """Constant-time check of ``secret`` against a :func:`hash_client_secret` result."""
    try:
        scheme, log2_n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.urlsafe_b64decode(salt_b64)
        expected = base64.urlsafe_b64decode(digest_b64)
        actual = _scrypt(secret, salt, int(log2_n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(secret: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=_DIGEST_BYTES
    )


def _aad(workgroup: str, name: str) -> bytes:
    # length-prefixed so ("a/b", "c") and ("a", "b/c") never collide
    wg, nm = workgroup.encode(), name.encode()
    return len(wg).to_bytes(2, "big") + wg + nm
