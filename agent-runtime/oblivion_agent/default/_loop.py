"""The default agent's work on a task: a LangGraph loop of model calls and tool calls.

Two nodes take turns: ``model`` asks the Agent's model (through Nexus's gateway, so its tokens count
on the task and against the budget) what to do next, offering the agent's tools from the Tool Gateway
as functions plus two of its own, ``ask_human`` and ``finish``; ``act`` runs what it asked for and
reports each turn in the thread. The loop ends when the model asks a person or finishes, when it has
made ``max_steps`` calls, or when the gateway refuses a call (the budget is spent). No checkpointer:
the thread is the record, and the next event rebuilds the conversation from it.
"""

from __future__ import annotations

import json
import logging
import operator
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from oblivion_agent._agent import Context
from oblivion_agent._models import ModelCallError
from oblivion_agent._tools import ToolCallError, ToolDeniedError, ToolInfo
from oblivion_agent.default._settings import DefaultAgentSettings
from oblivion_agent.default._transcript import ASK_HUMAN, FINISH, Message

logger = logging.getLogger(__name__)

Outcome = Literal["finished", "asked", "step_limit", "budget", "model_error"]

# OpenAI's rule for a function's name.
_FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")
NUDGE = f"Call a tool to go on: {ASK_HUMAN} to ask a person, {FINISH} when the task is done."
_OWN_FUNCTIONS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": ASK_HUMAN,
            "description": "Ask the people on the task one clear question and wait for their answer.",
            "parameters": {
                "type": "object",
                "properties": {"question": {"type": "string", "description": "The question, for people."}},
                "required": ["question"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": FINISH,
            "description": "End the task: post a summary of what was done and what is left.",
            "parameters": {
                "type": "object",
                "properties": {"summary": {"type": "string", "description": "The summary, for people."}},
                "required": ["summary"],
            },
        },
    },
]


class LoopState(TypedDict):
    messages: Annotated[list[Message], operator.add]
    steps: int
    outcome: Outcome | None
    detail: str


@dataclass(frozen=True)
class Toolbox:
    """The agent's Tool Gateway actions as the model's functions, by function name."""

    actions: dict[str, ToolInfo]

    @classmethod
    def of(cls, tools: list[ToolInfo]) -> Toolbox:
        actions: dict[str, ToolInfo] = {}
        for info in tools:
            name = _FUNCTION_NAME.sub("_", f"{info.tool}__{info.action}")[:64]
            if name in actions or name in (ASK_HUMAN, FINISH):
                name = _FUNCTION_NAME.sub("_", f"{info.tool}__{info.credential}__{info.action}")[:64]
            actions.setdefault(name, info)
        return cls(actions)

    def functions(self) -> list[dict[str, Any]]:
        own = [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": f"{info.tool} {info.action}: {info.description}"
                    + (" (a person must approve each call)" if info.approval else ""),
                    "parameters": info.args_schema or {"type": "object", "properties": {}},
                },
            }
            for name, info in self.actions.items()
        ]
        return own + _OWN_FUNCTIONS


@dataclass(frozen=True)
class Run:
    """What the nodes work with for one run on one task."""

    ctx: Context
    settings: DefaultAgentSettings
    toolbox: Toolbox
    # People's replies that arrived while the run went on, for its next model call.
    mailbox: list[Message] = field(default_factory=list)


async def _model(state: LoopState, runtime: Runtime[Run]) -> dict[str, Any]:
    run = runtime.context
    if state["steps"] >= run.settings.max_steps:
        return {"outcome": "step_limit"}
    news = list(run.mailbox)
    run.mailbox.clear()
    try:
        answer = await run.ctx.models.chat(
            state["messages"] + news, tools=run.toolbox.functions(), tool_choice="auto"
        )
    except ModelCallError as e:
        if e.status == 429 and e.error_type == "budget_exceeded":
            return {"messages": news, "outcome": "budget", "detail": str(e)}
        logger.warning("model call on task %s failed: %s", run.ctx.task_id, e)
        return {"messages": news, "outcome": "model_error", "detail": str(e)}
    said = answer["choices"][0]["message"]
    message: Message = {"role": "assistant", "content": said.get("content") or ""}
    if said.get("tool_calls"):
        message["tool_calls"] = said["tool_calls"]
    return {"messages": [*news, message], "steps": state["steps"] + 1}


def _after_model(state: LoopState) -> str:
    return END if state["outcome"] else "act"


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    raw = call.get("function", {}).get("arguments") or "{}"
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(parsed, dict):
        raise ValueError("the arguments are not a JSON object")
    return parsed


def _excerpt(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


async def _use_tool(run: Run, name: str, args: dict[str, Any]) -> tuple[str, str]:
    """Call one Tool Gateway action: what the model is told, and the thread's progress line."""
    info = run.toolbox.actions[name]
    label = f"{info.tool} {info.action}"
    try:
        outcome = await run.ctx.tools.invoke(info.tool, info.action, args, credential=info.credential)
    except ToolDeniedError as e:
        return f"refused: {e}", f"{label}: refused ({e.rule})"
    except ToolCallError as e:
        return f"failed: {e}", f"{label}: failed ({_excerpt(str(e), 200)})"
    result = _excerpt(outcome.result, run.settings.tool_result_chars)
    quoted = _excerpt(outcome.result, run.settings.report_result_chars)
    return result, f"{label}: ok" + (f" — {quoted}" if quoted and run.settings.report_result_chars else "")


async def _act(state: LoopState, runtime: Runtime[Run]) -> dict[str, Any]:
    run, ctx = runtime.context, runtime.context.ctx
    said = state["messages"][-1]
    calls: list[dict[str, Any]] = said.get("tool_calls") or []
    text = str(said.get("content") or "").strip()
    if not calls:
        if text:
            await ctx.say(text)
        return {"messages": [{"role": "user", "content": NUDGE}]}
    answers: list[Message] = []
    lines: list[str] = []
    ending: tuple[str, dict[str, Any]] | None = None
    for call in calls:
        name = str(call.get("function", {}).get("name") or "")
        try:
            args = _arguments(call)
        except ValueError as e:
            answers.append({"role": "tool", "tool_call_id": call.get("id"), "content": f"bad arguments: {e}"})
            continue
        if name in (ASK_HUMAN, FINISH):
            key = "question" if name == ASK_HUMAN else "summary"
            if ending is None and str(args.get(key) or "").strip():
                ending = (name, args)
                content = "posted"
            else:
                content = f"not posted: {key} is missing" if ending is None else "not posted: one ending"
            answers.append({"role": "tool", "tool_call_id": call.get("id"), "content": content})
            continue
        if name not in run.toolbox.actions:
            content = f"there is no tool named {name}"
        else:
            content, line = await _use_tool(run, name, args)
            lines.append(line)
        answers.append({"role": "tool", "tool_call_id": call.get("id"), "content": content})
    report = "\n".join([text] * bool(text) + [f"• {line}" for line in lines])
    if report:
        await ctx.say(report)
    if ending is None:
        return {"messages": answers}
    name, args = ending
    if name == ASK_HUMAN:
        await ctx.say(str(args["question"]).strip())
        await ctx.set_state("BLOCKED_ON_HUMAN")
        return {"messages": answers, "outcome": "asked"}
    await ctx.say(str(args["summary"]).strip())
    await ctx.set_state("DONE")
    return {"messages": answers, "outcome": "finished"}


def _after_act(state: LoopState) -> str:
    return END if state["outcome"] else "model"


def build_loop() -> CompiledStateGraph[LoopState, Run, LoopState, LoopState]:
    graph = StateGraph(LoopState, context_schema=Run)
    graph.add_node("model", _model)
    graph.add_node("act", _act)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", _after_model, ["act", END])
    graph.add_conditional_edges("act", _after_act, ["model", END])
    return graph.compile(name="oblivion-default-agent")


async def work(
    loop: CompiledStateGraph[LoopState, Run, LoopState, LoopState], run: Run, messages: list[Message]
) -> LoopState:
    """Run the loop from ``messages`` until it ends; its final state says how."""
    start: LoopState = {"messages": messages, "steps": 0, "outcome": None, "detail": ""}
    # Each step is two graph steps (model, act); LangGraph's own bound must not end the run first.
    limit = 2 * run.settings.max_steps + 4
    final = await loop.ainvoke(start, config={"recursion_limit": limit}, context=run)
    return cast(LoopState, final)
