"""The default agent (``oblivion_agent.default``) on a real Nexus, its model the fake model server
playing scripted turns and its tools the Tool Gateway's GitHub tool on the fake GitHub: it says it is
on a task before any model call, works with its tools, asks a person and resumes on the answer,
finishes with a summary, and stops saying why at its step limit or when its budget is spent."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from oblivion_agent import Agent
from oblivion_agent.default import DefaultAgentSettings, create_agent
from tests.fakes.clickup import FakeClickUp
from tests.fakes.github import FakeGitHub
from tests.fakes.models import FakeModels
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld, queue_task, settings_of, task_world
from tests.support.model_gateway import PRICES, model_agent, model_credential
from tests.support.processes import agent_process
from tests.support.registry import RegisteredAgent
from tests.support.waiting import eventually

MINI = {"provider": "openai", "name": "gpt-4o-mini"}
REPO = "acme/api"
PERSON = "U0PERSON01"
INSTRUCTIONS = "Work on the acme/api repository. Keep summaries short."
TITLE = "Login loops after a password reset"
DESCRIPTION = "After resetting a password the login page redirects to itself. File it in acme/api."


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[TaskWorld]:
    """The model tests' world, with no worker to answer memory searches: they fail fast."""
    async with task_world(
        nexus_env,
        fake_slack,
        fake_clickup,
        secret_registry,
        model_prices=PRICES,
        memory_search_timeout_seconds=0.2,
    ) as world:
        yield world


@pytest.fixture
def github(secret_registry: SecretRegistry) -> Iterator[FakeGitHub]:
    with FakeGitHub(token="ghp_" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(fake.token)
        fake.add_repo(REPO, {"README.md": "# api\n"})
        yield fake


async def coder(world: TaskWorld, models: FakeModels, github: FakeGitHub, **spec: Any) -> RegisteredAgent:
    """The agent ``coder``: the fake model, and GitHub's issue and repository actions."""
    await model_credential(world, models)
    async with world.admin() as admin:
        r = await admin.put(
            f"/internal/v1/workgroups/{world.workgroup}/credentials/github",
            json={
                "type": "github",
                "value": github.token,
                "allowedActions": ["issues.*", "repos.*"],
                "config": {"baseUrl": github.url},
            },
        )
    assert r.status_code in (200, 201), r.text
    return await model_agent(world, "coder", MINI, tools=[{"credential": "github"}], **spec)


@asynccontextmanager
async def default_agent(registered: RegisteredAgent, **settings: Any) -> AsyncIterator[Agent]:
    settings.setdefault("memory_hits", 0)  # the world has no worker to answer memory searches
    agent = create_agent(DefaultAgentSettings(name=registered.name, instructions=INSTRUCTIONS, **settings))
    serving = asyncio.create_task(agent.serve(settings_of(registered)))
    try:
        await eventually(lambda: agent.connected is not None and agent.connected.is_set(), what="connecting")
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(serving, 20)


def said(world: TaskWorld, task: str) -> list[str]:
    """What the agent posted in the task's thread, in order."""
    return [m["text"] for m in world.thread(task) if m.get("username") == "coder"]


async def settled(world: TaskWorld, task: str, state: str) -> list[str]:
    await eventually(lambda: world.state(task) == state, timeout=30, what=f"task {task} in {state}")
    return said(world, task)


async def test_a_task_is_acknowledged_worked_with_a_tool_and_finished_with_a_summary(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    models.call_tool(
        "github__issues_create",
        {"owner": "acme", "repo": "api", "title": "Login redirects to itself after a password reset"},
        text="Filing the bug.",
    )
    models.call_tool("finish", {"summary": "Filed acme/api#1 for the login loop."})

    # memory searched, and the Memory Bank (no worker here) unable to answer: the agent goes on
    async with default_agent(registered, description="Fixes backend bugs", memory_hits=5):
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        messages = await settled(world, task, "DONE")

    assert messages[0].startswith(f"On it: {TITLE}")
    assert messages[1].startswith("Filing the bug.")
    assert "github issues.create: ok" in messages[1]
    assert messages[2] == "Filed acme/api#1 for the login loop."
    assert len(messages) == 3
    issues = github.state.repos[REPO].issues
    assert [i["title"] for i in issues.values()] == ["Login redirects to itself after a password reset"]
    first = models.requests[0].body
    assert first["messages"][0]["role"] == "system"
    assert INSTRUCTIONS in first["messages"][0]["content"]
    assert "Fixes backend bugs" in first["messages"][0]["content"]
    assert DESCRIPTION in first["messages"][1]["content"]
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert {"github__issues_create", "ask_human", "finish"} <= offered
    usage = await eventually(
        lambda: [c for c in world.clickup.comments_newest_first(task) if "Model usage" in c["comment_text"]],
        what="the task's model usage on ClickUp",
    )
    assert len(usage) == 1, "the model calls counted on the task"
    told = models.requests[1].body["messages"][-1]
    assert told["role"] == "tool"
    assert '"number": 1' in told["content"], "the model sees the tool's result"


async def test_a_question_blocks_the_task_and_a_reply_resumes_it_to_done(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    models.call_tool("ask_human", {"question": "Should the fix go to the 2.x branch too?"})

    async with default_agent(registered):
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        asked = await settled(world, task, "BLOCKED_ON_HUMAN")
        assert asked[-1] == "Should the fix go to the 2.x branch too?"
        assert len(models.requests) == 1

        models.call_tool("finish", {"summary": "Fixed on main only, as asked."})
        root = world.thread(task)[0]["ts"]
        world.slack.workspace.post(
            world.channel, {"user": PERSON, "text": "Main only, please.", "thread_ts": root}
        )
        async with world.admin() as admin:
            r = await admin.post(
                f"/internal/v1/workgroups/{world.workgroup}/agents/coder/events",
                json={
                    "type": "CONTEXT_UPDATE",
                    "data": {"task_id": task, "kind": "slack_reply", "text": "Main only, please."},
                },
            )
        assert r.status_code == 202, r.text
        done = await settled(world, task, "DONE")

    assert done[-1] == "Fixed on main only, as asked."
    assert sum(m.startswith("On it:") for m in done) == 1, "the resumed run does not say hello again"
    resumed = models.requests[1].body["messages"]
    assert {"role": "assistant", "content": "Should the fix go to the 2.x branch too?"} in resumed
    assert resumed[-1] == {"role": "user", "content": f"{PERSON}: Main only, please."}


async def test_the_step_limit_stops_the_run_saying_so(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    models.say("Reading the login code.")
    models.say("Still reading.")
    models.say("Never asked for.")

    async with default_agent(registered, max_steps=2):
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        messages = await settled(world, task, "BLOCKED_ON_HUMAN")

    assert messages[1:3] == ["Reading the login code.", "Still reading."]
    assert messages[-1].startswith("I stopped after 2 steps without finishing.")
    assert len(models.requests) == 2


async def test_a_spent_budget_stops_the_run_saying_so(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github, budget={"tokensPerTask": 5})
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    models.say("Reading the login code.")

    async with default_agent(registered):
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        messages = await settled(world, task, "BLOCKED_ON_HUMAN")

    assert messages[-1].startswith("My model budget for this is spent, so I stopped here.")
    assert len(models.requests) == 1, "the refused call never reached the model"
    notices = [m["text"] for m in world.thread(task) if m.get("username") != "coder"]
    assert any("model budget" in text for text in notices), "Nexus's own notice is there too"


async def test_a_task_assigned_again_repeats_nothing_while_it_waits_for_an_answer_or_is_done(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    waiting = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    done = world.track_task("Bump the version", agents=["coder"])
    models.call_tool("ask_human", {"question": "Which branch?"})

    async with default_agent(registered) as agent:
        await queue_task(world, "coder", waiting, TITLE, DESCRIPTION)
        before_waiting = await settled(world, waiting, "BLOCKED_ON_HUMAN")
        models.call_tool("finish", {"summary": "Bumped to 1.2.1."})
        await queue_task(world, "coder", done, "Bump the version")
        before_done = await settled(world, done, "DONE")
        handled = agent.handled

        await queue_task(world, "coder", waiting, TITLE, DESCRIPTION)  # as a redelivery or a restart
        await queue_task(world, "coder", done, "Bump the version")
        await eventually(lambda: agent.handled == handled + 2, what="both events handled")

    assert said(world, waiting) == before_waiting
    assert said(world, done) == before_done
    assert len(models.requests) == 2, "no model call for either"
    assert (world.state(waiting), world.state(done)) == ("BLOCKED_ON_HUMAN", "DONE")


async def test_a_task_cancelled_stops_a_run_mid_call_and_the_agent_says_so(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    thinking = threading.Event()
    models.say("Too late to matter.", hold=thinking)  # the stop arrives while the model thinks

    async with default_agent(registered) as agent:
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        await eventually(lambda: models.requests, what="the model call under way")
        async with world.admin() as admin:
            r = await admin.post(
                f"/internal/v1/workgroups/{world.workgroup}/agents/coder/events",
                json={
                    "type": "TASK_CANCELLED",
                    "data": {"task_id": task, "reason": "stop_word", "author": "Ada"},
                },
            )
        assert r.status_code == 202, r.text
        messages = await settled(world, task, "BLOCKED_ON_HUMAN")
        await eventually(lambda: agent.handled == 2, what="both events handled")
        thinking.set()  # the answer nobody waits for any more

    assert messages[-1] == "Asked to stop by Ada, so I stopped. Reply here if I should pick it up again."
    assert "Too late to matter." not in messages


async def test_a_reply_while_the_agent_works_reaches_its_next_model_call(
    world: TaskWorld, models: FakeModels, github: FakeGitHub
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    thinking = threading.Event()
    models.say("Reading the login code.", hold=thinking)
    models.call_tool("finish", {"summary": "Fixed on web and mobile."})

    async with default_agent(registered) as agent:
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        await eventually(lambda: models.requests, what="the first model call under way")
        root = world.thread(task)[0]["ts"]
        world.slack.workspace.post(world.channel, {"user": PERSON, "text": "Mobile too.", "thread_ts": root})
        async with world.admin() as admin:
            r = await admin.post(
                f"/internal/v1/workgroups/{world.workgroup}/agents/coder/events",
                json={
                    "type": "CONTEXT_UPDATE",
                    "data": {"task_id": task, "kind": "slack_reply", "author": "Ada", "text": "Mobile too."},
                },
            )
        assert r.status_code == 202, r.text
        await eventually(lambda: agent.handled == 1, what="the reply handed to the run under way")
        thinking.set()
        messages = await settled(world, task, "DONE")

    assert messages[-1] == "Fixed on web and mobile."
    assert len(models.requests) == 2, "one run: the reply started no second one"
    assert models.requests[1].body["messages"][-1] == {"role": "user", "content": "Ada: Mobile too."}


async def test_the_default_agent_runs_as_a_process_shaped_by_the_variables_the_operator_sets(
    world: TaskWorld, models: FakeModels, github: FakeGitHub, secret_registry: SecretRegistry
) -> None:
    registered = await coder(world, models, github)
    task = world.track_task(TITLE, DESCRIPTION, agents=["coder"])
    models.call_tool("finish", {"summary": "Nothing to change."})
    env = {
        "OBLIVION_NEXUS_URL": registered.nexus_url,
        "OBLIVION_CLIENT_ID": registered.client_id,
        "OBLIVION_CLIENT_SECRET": registered.client_secret,
        "OBLIVION_AGENT_NAME": "coder",
        "OBLIVION_AGENT_DESCRIPTION": "Fixes backend bugs",
        "OBLIVION_AGENT_INSTRUCTIONS": INSTRUCTIONS,
        "OBLIVION_AGENT_MEMORY_HITS": "0",
    }
    async with agent_process("oblivion_agent.default:agent", env, secret_registry) as agent:
        await queue_task(world, "coder", task, TITLE, DESCRIPTION)
        messages = await settled(world, task, "DONE")
        assert await agent.terminate(20) == 0, agent.output()

    assert messages == [f"On it: {TITLE}. I will post my progress here.", "Nothing to change."]
    system = models.requests[0].body["messages"][0]["content"]
    assert INSTRUCTIONS in system
    assert "Fixes backend bugs" in system
