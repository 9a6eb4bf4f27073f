"""The agent's client of Nexus's Tool Gateway: list the tools it may use, call one, wait for a person.

``await ctx.tools.invoke("github", "issues.create", {...})`` answers the tool's result. When the
credential marks the action for approval, Nexus answers 202 and a person decides in Slack; the call
then waits for the ``TOOL_RESULT`` event that carries the decision (up to ``approval_timeout``
seconds; ``wait_for_approval=False`` returns at once with the approval id instead). A refusal raises
:class:`ToolDeniedError` naming the rule, a bad call :class:`ToolCallError` with Nexus's detail.
Every call carries an ``Idempotency-Key`` (``idempotency_key=``, or a fresh one), the same on each
retry, so an answer lost on the way never makes the action run twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from oblivion_agent._errors import AgentError
from oblivion_agent._tasks import nexus_request
from oblivion_agent._token import TokenSource
from oblivion_agent.protocol import ToolResult

# Results that arrive before their caller starts waiting (a very fast click) are kept this long.
_EARLY_RESULTS = 256


class ToolCallError(AgentError):
    """Nexus refused or could not complete a tool call: HTTP ``status`` and its ``detail``."""

    def __init__(self, message: str, *, status: int | None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ToolDeniedError(ToolCallError):
    """The policy refused the call (403, ``rule`` says which grant) or a person denied it."""

    def __init__(self, message: str, *, rule: str, status: int | None = 403, detail: Any = None) -> None:
        super().__init__(message, status=status, detail=detail)
        self.rule = rule


class ToolInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    tool: str
    credential: str
    action: str
    description: str
    approval: bool
    args_schema: dict[str, Any] = Field(alias="argsSchema")


class ToolOutcome(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ok: bool
    result: Any = None
    audit_id: str | None = None
    approval_id: str | None = None
    pending: bool = False  # only with wait_for_approval=False


class ApprovalWaiters:
    """Matches TOOL_RESULT events to the calls waiting for them, whichever comes first."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[ToolResult]] = {}
        self._early: OrderedDict[str, ToolResult] = OrderedDict()

    def resolve(self, result: ToolResult) -> bool:
        """Hand a TOOL_RESULT to its waiting call; True when one was waiting."""
        future = self._waiting.pop(result.request_id, None)
        if future is not None and not future.done():
            future.set_result(result)
            return True
        self._early[result.request_id] = result
        while len(self._early) > _EARLY_RESULTS:
            self._early.popitem(last=False)
        return False

    async def wait(self, request_id: str) -> ToolResult:
        """The result for ``request_id``; bound it with ``asyncio.timeout`` around the call."""
        early = self._early.pop(request_id, None)
        if early is not None:
            return early
        future = self._waiting.setdefault(request_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.shield(future)
        finally:
            if self._waiting.get(request_id) is future:
                self._waiting.pop(request_id, None)


class ToolClient:
    """``/v1/tools`` as this agent; ``task_id`` ties calls to a task (its thread gets the approval)."""

    def __init__(
        self,
        nexus_url: str,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        waiters: ApprovalWaiters,
        task_id: str | None = None,
    ) -> None:
        self._base = nexus_url.rstrip("/") + "/v1/tools"
        self._http = http
        self._tokens = tokens
        self._waiters = waiters
        self._task_id = task_id

    async def list(self) -> list[ToolInfo]:
        response = await nexus_request(self._http, self._tokens, "GET", self._base)
        if response.status_code >= 400:
            raise _refusal(response)
        return [ToolInfo.model_validate(tool) for tool in response.json().get("tools", [])]

    async def invoke(
        self,
        tool: str,
        action: str,
        args: dict[str, Any] | None = None,
        *,
        credential: str | None = None,
        task_id: str | None = None,
        wait_for_approval: bool = True,
        approval_timeout: float = 3600.0,
        idempotency_key: str | None = None,
    ) -> ToolOutcome:
        body: dict[str, Any] = {"tool": tool, "action": action, "args": args or {}}
        if credential:
            body["credential"] = credential
        if task_id or self._task_id:
            body["taskId"] = task_id or self._task_id
        # 429 from the agent's own tool rate limit says when to come back; so does a busy upstream,
        # and 409: a retry (after a lost answer) arrived while the first attempt still runs.
        retry = frozenset({409, 429, 503})
        # One key for every attempt of this call, so a retry never runs the action a second time.
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        response = await nexus_request(
            self._http,
            self._tokens,
            "POST",
            self._base + "/invoke",
            json=body,
            headers=headers,
            retry_statuses=retry,
        )
        if response.status_code == 200:
            answer = response.json()
            return ToolOutcome(ok=True, result=answer.get("result"), audit_id=answer.get("auditId"))
        if response.status_code != 202:
            raise _refusal(response)
        approval_id = str(response.json()["approvalId"])
        if not wait_for_approval:
            return ToolOutcome(ok=False, pending=True, approval_id=approval_id)
        try:
            async with asyncio.timeout(approval_timeout):
                decided = await self._waiters.wait(approval_id)
        except TimeoutError:
            raise ToolCallError(
                f"{action} waited {approval_timeout:.0f} s for approval {approval_id}", status=None
            ) from None
        if not decided.ok and decided.error and decided.error.startswith("the call was "):
            raise ToolDeniedError(f"{action}: {decided.error}", rule=decided.error, status=None)
        if not decided.ok:
            raise ToolCallError(f"{action} failed after approval: {decided.error}", status=None)
        return ToolOutcome(ok=True, result=decided.result, approval_id=approval_id)


def _refusal(response: httpx.Response) -> ToolCallError:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    if response.status_code == 403 and isinstance(detail, dict) and "rule" in detail:
        return ToolDeniedError(f"refused: {detail['rule']}", rule=str(detail["rule"]), detail=detail)
    message = detail.get("message") if isinstance(detail, dict) and "message" in detail else detail
    return ToolCallError(
        f"Nexus answered {response.status_code}: {message}", status=response.status_code, detail=detail
    )
