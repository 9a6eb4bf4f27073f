"""Where an agent's model call goes: the model its Agent names, and the workgroup credential to use.

An agent never chooses its model: a request naming another one is refused (403), and an agent whose
Agent resource gives no ``spec.model`` may call none. The credential is the one ``spec.model``
names, or else the workgroup's only credential of the provider's type (``openai`` or
``anthropic``); an ``openai-compatible`` model is called at its ``endpoint`` with the credential
whose ``baseUrl`` is that endpoint, or with no key when the workgroup has none (a local vLLM or
Ollama). A credential listing ``agents`` serves only those. A workgroup's own call (its summary model,
:func:`route_workgroup_call`) is routed the same way from its Workgroup's spec; it uses a credential
listing agents only when the Workgroup names it. The plaintext key lives in the returned
:class:`~oblivion_nexus.integrations.models.ProviderConfig` for the call's duration and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.integrations.models import ProviderConfig, ProviderKind
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.llm.errors import ModelRefused, ModelUnavailable
from oblivion_nexus.services.models.usage import Budget
from oblivion_nexus.settings import ModelSettings
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import CryptoError, MasterKeys, SealedValue

# The ToolCredential type that holds a provider's key.
CREDENTIAL_TYPES: dict[str, str] = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
}


@dataclass(frozen=True)
class ModelRoute:
    """One call's destination: the provider (with its key), the model's name, the agent's budget."""

    provider: ProviderConfig
    model: str
    credential: str | None
    budget: Budget


def _budget(spec: dict[str, Any]) -> Budget:
    return Budget(spec.get("tokensPerTask"), spec.get("tokensPerDay"))


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _usable(row: t.Credential, agent: str | None, named: bool) -> bool:
    """A credential listing ``agents`` serves only those; the workgroup's summary model (no agent)
    may use such a credential only when the Workgroup names it."""
    return not row.agents or (agent in row.agents if agent is not None else named)


def choose_credential(
    rows: list[t.Credential], spec: dict[str, Any], identity: AgentIdentity
) -> t.Credential | None:
    """The workgroup credential ``spec`` (an Agent's model) is called with, among ``rows`` (all of the
    workgroup's); None only for an openai-compatible endpoint that has none."""
    return _choose(rows, spec, identity.workgroup, identity.agent, "spec.model")


def choose_summary_credential(
    rows: list[t.Credential], spec: dict[str, Any], workgroup: str
) -> t.Credential | None:
    """The credential the workgroup's summary model (``spec``) is called with: the one the Workgroup
    names, else as for an agent's model but among credentials that list no agents."""
    return _choose(rows, spec, workgroup, None, "spec.memory.summaryModel")


def _choose(
    rows: list[t.Credential], spec: dict[str, Any], workgroup: str, agent: str | None, field: str
) -> t.Credential | None:
    caller = f"agent {agent!r}" if agent is not None else "its summary model"
    provider, wanted = spec["provider"], CREDENTIAL_TYPES[spec["provider"]]
    named = spec.get("credential")
    if named:
        row = next((r for r in rows if r.name == named), None)
        if row is None:
            raise ModelUnavailable(
                f"{field}.credential {named!r} is not a credential of workgroup {workgroup!r}"
            )
        if row.type != wanted:
            raise ModelUnavailable(
                f"credential {named!r} is of type {row.type!r}; a {provider} model needs type {wanted!r}"
            )
        if not _usable(row, agent, named=True):
            raise ModelUnavailable(f"credential {named!r} does not list {caller}")
        return row
    candidates = [r for r in rows if r.type == wanted and _usable(r, agent, named=False)]
    if provider == "openai-compatible":
        endpoint = str(spec.get("endpoint") or "")
        matching = [r for r in candidates if _same_url(str((r.config or {}).get("baseUrl", "")), endpoint)]
        if len(matching) > 1:
            raise ModelUnavailable(
                f"credentials {sorted(r.name for r in matching)} all have baseUrl {endpoint}; name one in "
                f"{field}.credential"
            )
        return matching[0] if matching else None
    if not candidates:
        raise ModelUnavailable(
            f"workgroup {workgroup!r} has no ToolCredential of type {wanted!r} for {caller}"
        )
    if len(candidates) > 1:
        raise ModelUnavailable(
            f"workgroup {workgroup!r} has several {wanted!r} credentials "
            f"({', '.join(sorted(r.name for r in candidates))}); name one in {field}.credential"
        )
    return candidates[0]


def _provider(
    spec: dict[str, Any], row: t.Credential | None, key: str, settings: ModelSettings
) -> ProviderConfig:
    kind: ProviderKind = spec["provider"]
    config = dict(row.config or {}) if row is not None else {}
    if kind == "openai-compatible":
        base_url = str(spec["endpoint"])
    else:
        default = settings.anthropic_url if kind == "anthropic" else settings.openai_url
        base_url = str(config.get("baseUrl") or default)
    return ProviderConfig(
        kind=kind,
        base_url=base_url,
        api_key=key,
        key_header=str(config.get("keyHeader") or "Authorization"),
    )


async def route_call(
    session: AsyncSession,
    keys: MasterKeys,
    settings: ModelSettings,
    identity: AgentIdentity,
) -> ModelRoute:
    """The route of ``identity``'s calls; :class:`ModelRefused` when its Agent gives it no model."""
    row = (
        await session.execute(select(t.Agent.model, t.Agent.budget).where(t.Agent.id == identity.agent_id))
    ).one_or_none()
    spec = row.model if row is not None else None
    if not spec or not spec.get("name"):
        raise ModelRefused(
            f"agent {identity.workgroup}/{identity.agent} has no model: set spec.model on its Agent "
            "resource (provider and name) to let it call one"
        )
    name = str(spec["name"])
    spec = {"provider": "openai", **spec}
    rows = await _credentials(session, identity.workgroup)
    credential = choose_credential(rows, spec, identity)
    provider = _provider(spec, credential, _open_key(keys, credential), settings)
    return ModelRoute(
        provider=provider,
        model=name,
        credential=credential.name if credential is not None else None,
        budget=_budget(dict(row.budget or {})) if row is not None else Budget(),
    )


async def _credentials(session: AsyncSession, workgroup: str) -> list[t.Credential]:
    return list(
        (await session.execute(select(t.Credential).where(t.Credential.workgroup == workgroup))).scalars()
    )


def _open_key(keys: MasterKeys, credential: t.Credential | None) -> str:
    """The credential's plaintext key ("" for none), opened with Nexus's master keys."""
    if credential is None:
        return ""
    try:
        return keys.open(
            SealedValue(credential.ciphertext, credential.nonce, credential.key_id),
            workgroup=credential.workgroup,
            name=credential.name,
        )
    except CryptoError as e:
        raise ModelUnavailable(
            f"credential {credential.name!r} cannot be opened with Nexus's master keys"
        ) from e


@dataclass(frozen=True)
class WorkgroupModelRoute:
    """Where a workgroup's own call goes (its summary model): provider with its key, model, credential."""

    provider: ProviderConfig
    model: str
    credential: str | None


async def route_workgroup_call(
    session: AsyncSession, keys: MasterKeys, settings: ModelSettings, workgroup: str, spec: dict[str, Any]
) -> WorkgroupModelRoute:
    """The route of a call the workgroup itself makes with ``spec`` (its Workgroup's
    ``spec.memory.summaryModel``); :class:`ModelUnavailable` when its credential cannot be used."""
    spec = {"provider": "openai", **spec}
    credential = choose_summary_credential(await _credentials(session, workgroup), spec, workgroup)
    return WorkgroupModelRoute(
        provider=_provider(spec, credential, _open_key(keys, credential), settings),
        model=str(spec["name"]),
        credential=credential.name if credential is not None else None,
    )
