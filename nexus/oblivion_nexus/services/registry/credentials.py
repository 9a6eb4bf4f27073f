"""Tool credentials: stored sealed (AES-256-GCM), shown by fingerprint, opened only for execution.

Rotation of the master key: put the new key first in ``OBLIVION_MASTER_KEY`` (keeping the old one),
run ``oblivion nexus reseal-credentials`` so every row is encrypted under the new key, then drop the
old key. Rows the old key sealed keep working in between, because every listed key decrypts.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.services.registry.entries import (
    delete_audited,
    record_audit,
    require_workgroup,
    upsert_audited,
)
from oblivion_nexus.services.registry.schemas import CredentialSpec, CredentialView
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import CryptoError, MasterKeys, SealedValue

logger = logging.getLogger(__name__)


def _view(row: t.Credential | Row[Any]) -> CredentialView:
    return CredentialView(
        workgroup=row.workgroup,
        name=row.name,
        type=row.type,
        allowed_actions=row.allowed_actions,
        agents=row.agents,
        config=row.config,
        approval=row.approval or None,
        fingerprint=row.fingerprint,
        key_id=row.key_id,
        updated_at=row.updated_at,
    )


def _sealed_columns(keys: MasterKeys, workgroup: str, name: str, value: str) -> dict[str, Any]:
    sealed = keys.seal(value, workgroup=workgroup, name=name)
    return {
        "ciphertext": sealed.ciphertext,
        "nonce": sealed.nonce,
        "key_id": sealed.key_id,
        "fingerprint": keys.fingerprint(value),
    }


async def put_credential(
    session: AsyncSession, keys: MasterKeys, workgroup: str, name: str, spec: CredentialSpec
) -> tuple[CredentialView, bool]:
    """Encrypt the value under the current master key and upsert; only ciphertext reaches the table."""
    await require_workgroup(session, workgroup)
    values: dict[str, Any] = {
        **spec.model_dump(exclude={"value", "approval"}),
        "approval": spec.approval.model_dump(by_alias=True) if spec.approval else {},
        **_sealed_columns(keys, workgroup, name, spec.value.get_secret_value()),
    }
    row = await upsert_audited(
        session,
        t.Credential,
        {"workgroup": workgroup, "name": name},
        values,
        constraint="uq_credentials_workgroup_name",
        workgroup=workgroup,
        action="credential.put",
    )
    return _view(row), bool(row.inserted)


async def get_credential(session: AsyncSession, workgroup: str, name: str) -> CredentialView | None:
    stmt = select(t.Credential).where(t.Credential.workgroup == workgroup, t.Credential.name == name)
    row = (await session.execute(stmt)).scalar_one_or_none()
    return None if row is None else _view(row)


async def delete_credential(session: AsyncSession, workgroup: str, name: str) -> bool:
    stmt = delete(t.Credential).where(t.Credential.workgroup == workgroup, t.Credential.name == name)
    return await delete_audited(session, stmt, workgroup, "credential.delete", name)


async def open_credential(session: AsyncSession, keys: MasterKeys, workgroup: str, name: str) -> str | None:
    """The plaintext value, for server-side tool execution only: never log, return or send it."""
    stmt = select(t.Credential).where(t.Credential.workgroup == workgroup, t.Credential.name == name)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None
    return keys.open(SealedValue(row.ciphertext, row.nonce, row.key_id), workgroup=workgroup, name=name)


async def reseal_credentials(session: AsyncSession, keys: MasterKeys) -> tuple[int, list[str]]:
    """Re-encrypt every credential not sealed under the current key.

    Returns how many were resealed and the ``workgroup/name`` of those no listed key opens (left as
    they are, so nothing is lost: put the missing key back and run again).
    """
    stmt = select(t.Credential).where(t.Credential.key_id != keys.current_key_id).with_for_update()
    resealed, unopenable = 0, []
    for row in (await session.execute(stmt)).scalars():
        sealed = SealedValue(row.ciphertext, row.nonce, row.key_id)
        try:
            value = keys.open(sealed, workgroup=row.workgroup, name=row.name)
        except CryptoError:
            unopenable.append(f"{row.workgroup}/{row.name}")
            continue
        for column, new in _sealed_columns(keys, row.workgroup, row.name, value).items():
            setattr(row, column, new)
        resealed += 1
    if resealed:
        await record_audit(
            session, "", "credential.reseal", f"{resealed} credentials → {keys.current_key_id}"
        )
    await session.commit()
    logger.info("resealed %d credentials under master key %s", resealed, keys.current_key_id)
    if unopenable:
        logger.error("%d credentials open under none of the master keys: %s", len(unopenable), unopenable)
    return resealed, unopenable
