"""The workgroup's summary model, as the Memory Bank's thread summaries call it.

The Workgroup's ``spec.memory.summaryModel`` (registered by the operator) names the model; the call
takes the route an agent's call would (:func:`~oblivion_nexus.services.llm.routing.route_workgroup_call`:
an ``openai`` ToolCredential opened with the master keys, or an ``openai-compatible`` endpoint) and
goes through the same provider code as the model gateway's. Any failure (no usable credential,
unreachable, an error status, a 429, an empty answer, no answer within ``SUMMARY_TIMEOUT_SECONDS``)
is :class:`SummaryModelFailed`, and the thread's summary is extractive; nothing here retries.

Its tokens are recorded like an agent's call, in ``model_usage``, under the pseudo-agent
``SUMMARY_AGENT`` (agent id 0, which no agent has, so no agent's budget counts them) and the
thread's task, so they are in the task's usage comment and in the workgroup's sums.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.integrations.models import ModelError, ModelProvider, Usage
from oblivion_nexus.integrations.upstream import Upstream
from oblivion_nexus.pricing import parse_price_table
from oblivion_nexus.services.llm.errors import ModelGatewayError
from oblivion_nexus.services.llm.routing import route_workgroup_call
from oblivion_nexus.services.memory.model_summaries import ModelSummary, SummaryModelFailed
from oblivion_nexus.services.models import spending
from oblivion_nexus.services.models.usage import cost
from oblivion_nexus.settings import ModelSettings
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import MasterKeys

logger = logging.getLogger(__name__)

# Who the usage rows of summary calls name: not a Kubernetes name (no agent can be called this).
SUMMARY_AGENT = "(memory summaries)"
SUMMARY_AGENT_ID = 0
# A summary of fifty messages takes seconds; a model slower than this holds an ingestion slot for
# nothing, and the extractive summary is ready at once.
SUMMARY_TIMEOUT_SECONDS = 60.0


def answer_text(answer: dict[str, Any]) -> str:
    """The assistant's text in an OpenAI chat completion ("" when it has none)."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content.strip() if isinstance(content, str) else ""


class WorkgroupSummaryModel:
    """:class:`~oblivion_nexus.services.memory.model_summaries.SummaryModel` through the workgroup's
    model: one chat completion per summary."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keys: MasterKeys,
        settings: ModelSettings,
        http: Upstream,
        *,
        timeout: float = SUMMARY_TIMEOUT_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = keys
        self._settings = settings
        self._http = http
        self._prices = parse_price_table(settings.prices)
        self._timeout = timeout

    async def summarize(
        self, workgroup: str, task_id: str | None, chat: list[dict[str, str]]
    ) -> ModelSummary | None:
        async with self._sessionmaker() as session:
            spec = await session.scalar(
                select(t.Workgroup.summary_model).where(t.Workgroup.name == workgroup)
            )
            if not spec or not spec.get("name"):
                return None
            try:
                route = await route_workgroup_call(session, self._keys, self._settings, workgroup, spec)
            except ModelGatewayError as e:
                raise SummaryModelFailed(e.message) from e
        provider = ModelProvider(route.provider, self._http)
        try:
            async with asyncio.timeout(self._timeout):
                answer, usage = await provider.complete({"model": route.model, "messages": chat})
        except ModelError as e:
            upstream = f"HTTP {e.upstream_status}" if e.upstream_status is not None else "no answer"
            raise SummaryModelFailed(f"{route.model} failed ({upstream}): {e.message}") from e
        except TimeoutError as e:
            raise SummaryModelFailed(f"{route.model} did not answer within {self._timeout:g} s") from e
        await self._record(workgroup, task_id, route.provider.kind, route.model, usage)
        text = answer_text(answer)
        if not text:
            raise SummaryModelFailed(f"{route.model} answered with no text")
        return ModelSummary(text, route.model)

    async def _record(
        self, workgroup: str, task_id: str | None, provider: str, model: str, usage: Usage
    ) -> None:
        call = spending.ModelCall(
            workgroup=workgroup,
            agent=SUMMARY_AGENT,
            agent_id=SUMMARY_AGENT_ID,
            task_id=task_id,
            provider=provider,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost(self._prices, model, usage.prompt_tokens, usage.completion_tokens),
            day=dt.datetime.now(dt.UTC).date(),
        )
        try:
            async with self._sessionmaker() as session:
                await spending.record_call(session, call)
        except SQLAlchemyError as e:  # the summary is written; calling the model again would cost twice
            logger.warning(
                "memory: could not record the usage of a summary by %s: %s", model, type(e).__name__
            )
        logger.info(
            "memory: summary by %s for workgroup %s: %d prompt and %d completion tokens",
            model,
            workgroup,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
