"""The agent's model, through Nexus's model gateway: the agent never holds a provider key.

``await ctx.models.chat(messages, tools=…, response_format=…)`` answers OpenAI's chat completion (a
dict: ``answer["choices"][0]["message"]``), with the model the Agent resource names; its tokens count
on the event's task and against the Agent's budget. A library that speaks OpenAI's API itself (the
``openai`` client, LangChain's ``ChatOpenAI``) is pointed at ``ctx.models.base_url`` with
``await ctx.models.api_key()`` (the agent's access token, valid for minutes: ask again for a long
session) and ``ctx.models.headers`` as its default headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from oblivion_agent._errors import AgentError
from oblivion_agent._tasks import nexus_request
from oblivion_agent._token import TokenSource
from oblivion_agent._tracing import current_trace_headers

TASK_HEADER = "X-Oblivion-Task-Id"


class ModelCallError(AgentError):
    """The gateway refused or the provider failed: HTTP ``status``, OpenAI's error ``type``, and
    ``retry_after`` seconds when waiting helps (over budget: when the day ends)."""

    def __init__(self, message: str, *, status: int, error_type: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after


class ModelClient:
    """``/v1/llm`` as this agent, for one task (or none)."""

    def __init__(
        self, nexus_url: str, http: httpx.AsyncClient, tokens: TokenSource, task_id: str | None
    ) -> None:
        self.base_url = nexus_url.rstrip("/") + "/v1/llm"
        self._http = http
        self._tokens = tokens
        self._task_id = task_id

    @property
    def headers(self) -> dict[str, str]:
        """Headers every call for this task carries (the task its tokens count on, and its trace
        context when Nexus traces it)."""
        headers = current_trace_headers()
        if self._task_id:
            headers[TASK_HEADER] = self._task_id
        return headers

    async def api_key(self) -> str:
        """The key an OpenAI client uses at :attr:`base_url`: the agent's current access token."""
        return await self._tokens.get()

    async def chat(self, messages: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        """One chat completion (OpenAI's request fields as ``options``: ``tools``, ``tool_choice``,
        ``response_format``, ``max_tokens``…); a stream needs an OpenAI client on :attr:`base_url`."""
        if options.get("stream"):
            raise ValueError("chat() answers whole completions; stream with an OpenAI client on base_url")
        response = await nexus_request(
            self._http,
            self._tokens,
            "POST",
            f"{self.base_url}/chat/completions",
            json={"messages": [dict(m) for m in messages], **options},
            headers=self.headers,
            retry_statuses=frozenset({503}),
        )
        if response.status_code != 200:
            raise _model_error(response)
        answer: dict[str, Any] = response.json()
        return answer


def _model_error(response: httpx.Response) -> ModelCallError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    retry_after = response.headers.get("retry-after")
    return ModelCallError(
        f"model call: Nexus answered {response.status_code}: {error.get('message') or response.text[:200]}",
        status=response.status_code,
        error_type=str(error.get("type") or "error"),
        retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
    )
