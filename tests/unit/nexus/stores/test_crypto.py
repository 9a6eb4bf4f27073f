"""Credential encryption at rest, key rotation, fingerprints and client-secret hashes."""

from __future__ import annotations

import base64
import secrets

import pytest

from oblivion_nexus.stores.crypto import (
    CryptoError,
    MasterKeys,
    SealedValue,
    hash_client_secret,
    verify_client_secret,
)


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_sealed_value_opens_to_the_original_and_is_not_the_plaintext() -> None:
    keys = MasterKeys.parse(f"k1:{_key()}")
    sealed = keys.seal("ghp_topsecret", workgroup="backend", name="github")
    assert b"ghp_topsecret" not in sealed.ciphertext
    assert sealed.key_id == "k1"
    assert keys.open(sealed, workgroup="backend", name="github") == "ghp_topsecret"


def test_value_sealed_under_the_old_key_still_opens_after_rotation() -> None:
    old, new = _key(), _key()
    sealed = MasterKeys.parse(f"old:{old}").seal("v", workgroup="wg", name="c")
    rotated = MasterKeys.parse(f"new:{new},old:{old}")
    assert rotated.current_key_id == "new"
    assert rotated.open(sealed, workgroup="wg", name="c") == "v"
    assert rotated.seal("v", workgroup="wg", name="c").key_id == "new"


def test_value_sealed_under_a_removed_key_fails_with_the_key_id() -> None:
    sealed = MasterKeys.parse(f"gone:{_key()}").seal("v", workgroup="wg", name="c")
    with pytest.raises(CryptoError, match="gone"):
        MasterKeys.parse(f"new:{_key()}").open(sealed, workgroup="wg", name="c")


def test_ciphertext_moved_to_another_credential_does_not_open() -> None:
    keys = MasterKeys.parse(f"k1:{_key()}")
    sealed = keys.seal("v", workgroup="wg", name="github")
    with pytest.raises(CryptoError, match="does not decrypt"):
        keys.open(sealed, workgroup="wg", name="slack")
    with pytest.raises(CryptoError):
        keys.open(sealed, workgroup="other", name="github")


def test_tampered_ciphertext_does_not_open() -> None:
    keys = MasterKeys.parse(f"k1:{_key()}")
    sealed = keys.seal("v", workgroup="wg", name="c")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(CryptoError):
        keys.open(SealedValue(flipped, sealed.nonce, sealed.key_id), workgroup="wg", name="c")


def test_fingerprint_is_short_stable_and_reveals_nothing() -> None:
    keys = MasterKeys.parse(f"k1:{_key()}")
    fp = keys.fingerprint("hunter2-very-secret")
    assert fp == keys.fingerprint("hunter2-very-secret")
    assert fp != keys.fingerprint("hunter3-very-secret")
    assert fp.startswith("hmac-sha256:")
    assert len(fp.split(":")[1]) == 16
    assert "hunter2" not in fp
    assert MasterKeys.parse(f"k2:{_key()}").fingerprint("hunter2-very-secret") != fp


def test_master_key_without_id_gets_a_stable_derived_id() -> None:
    raw = _key()
    assert MasterKeys.parse(raw).current_key_id == MasterKeys.parse(raw).current_key_id


@pytest.mark.parametrize(
    ("spec", "message"),
    [("k1:not base64!", "base64"), ("k1:" + base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_malformed_master_key_is_refused(spec: str, message: str) -> None:
    with pytest.raises(CryptoError, match=message):
        MasterKeys.parse(spec)


def test_duplicate_master_key_id_is_refused() -> None:
    with pytest.raises(CryptoError, match="twice"):
        MasterKeys.parse(f"k1:{_key()},k1:{_key()}")


def test_master_keys_repr_shows_ids_only() -> None:
    raw = _key()
    assert raw not in repr(MasterKeys.parse(f"k1:{raw}"))


def test_client_secret_hash_verifies_only_the_right_secret() -> None:
    stored = hash_client_secret("s3cret-value")
    assert "s3cret-value" not in stored
    assert stored != hash_client_secret("s3cret-value")  # salted
    assert verify_client_secret("s3cret-value", stored)
    assert not verify_client_secret("s3cret-valuf", stored)
    assert not verify_client_secret("s3cret-value", "garbage")
