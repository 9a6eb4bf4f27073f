"""The model gateway's call: route it, check the task and the budget, forward it, count it.

Every call that reached the provider and was answered is one ``model_usage`` row with the tokens the
upstream reported (streams always ask for them), its cost from the price table, and the metrics,
written just after the answer has gone to the agent. A stream's events are read from the provider as
they are sent on, and to the end even when the agent hangs up (:class:`EventStream` reads on), so an
agent cannot dodge the count by closing the connection before the usage arrives.
Errors carry no key: the provider's message is scrubbed of it, and an auth failure's is not passed on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import INVALID_SPAN, NoOpTracer, Span, SpanKind, StatusCode

from oblivion_nexus.integrations.models import ChatStream, ModelError, ModelProvider, Usage
from oblivion_nexus.integrations.upstream import Upstream, UpstreamError
from oblivion_nexus.observability import ModelMetrics
from oblivion_nexus.pricing import parse_price_table
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.agent_tasks.actions import TaskError, load_assignment
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.llm import budgets
from oblivion_nexus.services.llm.errors import (
    ModelGatewayError,
    ModelRefused,
    TaskNotAssigned,
    UpstreamFailed,
)
from oblivion_nexus.services.llm.routing import ModelRoute, route_call
from oblivion_nexus.services.llm.usage_writer import UsageWriter
from oblivion_nexus.services.models import spending
from oblivion_nexus.services.models.usage import cost
from oblivion_nexus.services.tools.scrub import Scrubber
from oblivion_nexus.stores import tables as t
from oblivion_nexus.tracing import caller_context

logger = logging.getLogger(__name__)

# A route (the Agent's model and budget, the workgroup's key) is read from the registry and decrypted
# once per agent in this long: two database round trips and an AES-GCM open less on nearly every
# call, while a changed Agent or a rotated credential takes effect within it.
ROUTE_TTL_SECONDS = 2.0
_MAX_CACHED_ROUTES = 4096
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class _Call:
    identity: AgentIdentity
    route: ModelRoute
    task_id: str | None
    day: dt.date
    body: dict[str, Any]

    @property
    def labels(self) -> tuple[str, str, str]:
        return self.identity.workgroup, self.identity.agent, self.route.model


class ModelGateway:
    """One per process; shares the app's clients and the model providers' connection pool."""

    def __init__(self, resources: Resources, metrics: ModelMetrics, http: Upstream) -> None:
        self._resources = resources
        self._metrics = metrics
        self._http = http
        self._prices = parse_price_table(resources.settings.models.prices)
        self._routes: dict[int, tuple[float, ModelRoute]] = {}
        self._usage = UsageWriter(resources.settings.database.url)
        self._tracer = resources.tracer
        self._tracing = not isinstance(resources.tracer, NoOpTracer)

    async def aclose(self) -> None:
        """Write the usage still queued (the server has let the streams still open finish first)."""
        await self._usage.aclose()

    # Before the call

    async def _route(self, identity: AgentIdentity) -> ModelRoute:
        """The agent's route, read from the registry at most every ``ROUTE_TTL_SECONDS``."""
        now = time.monotonic()
        cached = self._routes.get(identity.agent_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        resources = self._resources
        async with resources.sessionmaker() as session:
            route = await route_call(session, resources.master_keys, resources.settings.models, identity)
        if len(self._routes) >= _MAX_CACHED_ROUTES:
            self._routes = {k: v for k, v in self._routes.items() if v[0] > now}
        self._routes[identity.agent_id] = (now + ROUTE_TTL_SECONDS, route)
        return route

    async def _prepare(
        self, identity: AgentIdentity, request: Mapping[str, Any], task_id: str | None
    ) -> _Call:
        requested = request.get("model")
        if requested is not None and not isinstance(requested, str):
            raise ModelGatewayError("model must be a string")
        resources = self._resources
        now = dt.datetime.now(dt.UTC)
        try:
            route = await self._route(identity)
            if requested is not None and requested != route.model:
                raise ModelRefused(
                    f"agent {identity.agent} may use model {route.model!r} only, not {requested!r}"
                )
        except ModelRefused:
            self._metrics.calls.labels(identity.workgroup, identity.agent, str(requested), "refused").inc()
            raise
        mapping: t.TaskMapping | None = None
        if task_id is not None:
            async with resources.sessionmaker() as session:
                try:
                    mapping = (await load_assignment(session, identity, task_id)).mapping
                except TaskError as e:
                    raise TaskNotAssigned(f"cannot spend on task {task_id}: {e}") from None
        call = _Call(identity, route, task_id, now.date(), {**request, "model": route.model})
        if budgets.is_limited(route.budget):
            await self._usage.settled(identity.agent_id)
        try:
            await budgets.admit(
                resources,
                workgroup=identity.workgroup,
                agent=identity.agent,
                agent_id=identity.agent_id,
                budget=route.budget,
                task=mapping,
                now=now,
            )
        except ModelGatewayError:
            self._metrics.calls.labels(*call.labels, "over_budget").inc()
            raise
        return call

    def _failed(self, call: _Call, e: ModelError) -> ModelGatewayError:
        """The provider's failure as the agent sees it, without the key."""
        scrub = Scrubber([call.route.provider.api_key] if call.route.provider.api_key else [])
        outcome = "rate_limited" if e.status == 429 else "upstream_error"
        self._metrics.calls.labels(*call.labels, outcome).inc()
        message = scrub.text(e.message)
        logger.info(
            "model call of %s/%s to %s failed: HTTP %s %s",
            call.identity.workgroup,
            call.identity.agent,
            call.route.model,
            e.upstream_status,
            message[:200],
        )
        if e.status >= 500:
            return UpstreamFailed(
                f"the model provider failed: {message}",
                status=e.status,
                error_type=e.error_type,
                retry_after=e.retry_after,
                upstream_status=e.upstream_status,
            )
        return ModelGatewayError(
            message,
            status=e.status,
            error_type=e.error_type,
            retry_after=e.retry_after,
            upstream_status=e.upstream_status,
        )

    # After the call

    def _count(self, call: _Call, usage: Usage) -> None:
        """Count the call in the metrics now and in ``model_usage`` just after (:class:`UsageWriter`)."""
        price = cost(self._prices, call.route.model, usage.prompt_tokens, usage.completion_tokens)
        identity = call.identity
        self._usage.add(
            spending.ModelCall(
                workgroup=identity.workgroup,
                agent=identity.agent,
                agent_id=identity.agent_id,
                task_id=call.task_id,
                provider=call.route.provider.kind,
                model=call.route.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=price,
                day=call.day,
            )
        )
        metrics = self._metrics
        metrics.tokens.labels(*call.labels, "prompt").inc(usage.prompt_tokens)
        metrics.tokens.labels(*call.labels, "completion").inc(usage.completion_tokens)
        if price is not None:
            metrics.cost.labels(*call.labels).inc(float(price))
        metrics.calls.labels(*call.labels, "ok").inc()

    # The call

    def _start_span(self, call: _Call, trace_headers: Mapping[str, str]) -> Span:
        """The call's span (GenAI conventions), in the trace the agent's ``traceparent`` names."""
        if not self._tracing:
            return INVALID_SPAN  # records nothing, and nothing is computed for it
        provider = call.route.provider
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic" if provider.kind == "anthropic" else "openai",
            "gen_ai.request.model": call.route.model,
            "server.address": urlsplit(provider.base_url).hostname or "",
            "oblivion.workgroup": call.identity.workgroup,
            "oblivion.agent": call.identity.agent,
        }
        if call.task_id is not None:
            attributes["oblivion.task_id"] = call.task_id
        return self._tracer.start_span(
            f"chat {call.route.model}",
            context=caller_context(trace_headers),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    @staticmethod
    def _end_span(span: Span, usage: Usage | None, error: ModelGatewayError | None = None) -> None:
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        if error is not None:
            span.set_attribute("error.type", error.error_type)
            span.set_status(StatusCode.ERROR)
        span.end()

    async def complete(
        self,
        identity: AgentIdentity,
        request: Mapping[str, Any],
        task_id: str | None,
        trace_headers: Mapping[str, str] = _NO_HEADERS,
    ) -> dict[str, Any]:
        call = await self._prepare(identity, request, task_id)
        span = self._start_span(call, trace_headers)
        try:
            answer, usage = await ModelProvider(call.route.provider, self._http).complete(call.body)
        except ModelError as e:
            failure = self._failed(call, e)
            self._end_span(span, None, failure)
            raise failure from None
        if span.is_recording():
            span.set_attribute("gen_ai.response.model", str(answer.get("model") or call.route.model))
            reasons = [
                str(c.get("finish_reason")) for c in answer.get("choices") or () if isinstance(c, dict)
            ]
            span.set_attribute("gen_ai.response.finish_reasons", reasons)
        self._end_span(span, usage)
        self._count(call, usage)
        return answer

    async def stream(
        self,
        identity: AgentIdentity,
        request: Mapping[str, Any],
        task_id: str | None,
        trace_headers: Mapping[str, str] = _NO_HEADERS,
    ) -> AsyncIterator[bytes]:
        """The server-sent events of a streamed call; a refusal or an upstream failure before the first
        byte raises here, one after it ends the stream with an error event."""
        call = await self._prepare(identity, request, task_id)
        span = self._start_span(call, trace_headers)
        try:
            upstream = await ModelProvider(call.route.provider, self._http).stream(call.body)
        except ModelError as e:
            failure = self._failed(call, e)
            self._end_span(span, None, failure)
            raise failure from None
        return self._relay(call, upstream, span)

    async def _relay(self, call: _Call, upstream: ChatStream, span: Span) -> AsyncIterator[bytes]:
        """The upstream's events as they come, then the count; a failure mid-stream ends the events
        with an error event."""
        failure: ModelGatewayError | None = None
        try:
            async for chunk in upstream:
                yield chunk
        except (UpstreamError, ModelError) as e:
            error = ModelError(502, f"the model provider's stream broke off ({type(e).__name__})")
            failure = self._failed(call, error)
            yield _sse_error(failure)
        except Exception:
            logger.exception("model stream of %s/%s failed", call.identity.workgroup, call.identity.agent)
            failure = UpstreamFailed("the model stream failed in Nexus")
            yield _sse_error(failure)
        finally:
            await upstream.aclose()  # at once, when the events were left before their end
            self._end_span(span, upstream.usage, failure)
            if upstream.usage is not None:
                self._count(call, upstream.usage)
            else:
                logger.warning(
                    "model stream of %s/%s to %s ended without usage; not counted",
                    call.identity.workgroup,
                    call.identity.agent,
                    call.route.model,
                )


def _sse_error(error: ModelGatewayError) -> bytes:
    return f"data: {json.dumps(error.as_openai_error(), separators=(',', ':'))}\n\n".encode()
