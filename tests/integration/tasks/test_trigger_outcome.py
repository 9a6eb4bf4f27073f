"""``oblivion trigger clickup-task`` says what became of the task once the worker decided: tracked
(exit 0, with its thread and agents) or ignored with the reason a person can act on (exit 3)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from oblivion_nexus.worker import running_worker
from tests.support.agent_tasks import TaskWorld
from tests.support.processes import oblivion_executable

REPO_ROOT = Path(__file__).parents[3]


async def trigger(world: TaskWorld, *args: str, admin: bool = True) -> tuple[int, str]:
    secret = world.nexus.settings.clickup.webhook_secret
    assert secret is not None
    env = {
        "OBLIVION_CLICKUP_WEBHOOK_SECRET": secret.get_secret_value(),
        "OBLIVION_CLICKUP_API_URL": world.clickup.url,
        "OBLIVION_CLICKUP_TOKEN": world.clickup.token,
    }
    if admin:
        env["OBLIVION_ADMIN_TOKEN"] = world.nexus.settings.security.admin_token.get_secret_value()
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    process = await asyncio.create_subprocess_exec(
        oblivion_executable(),
        "trigger",
        "clickup-task",
        "--nexus-url",
        world.nexus.url,
        "--wait",
        "20",
        *args,
        cwd=REPO_ROOT,
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_task_summoning_no_agent_is_reported_ignored_with_the_reason(world: TaskWorld) -> None:
    await world.register_agent("ai-backend")
    async with running_worker(world.nexus.settings):
        code, out = await trigger(world, "--list", world.list_id, "--description", "@nobody-here please")
    assert code == 3, out
    assert "was ignored: no agent was summoned" in out
    assert world.nexus.settings.security.admin_token.get_secret_value() not in out


async def test_a_task_on_an_unregistered_list_is_reported_ignored_naming_the_list(world: TaskWorld) -> None:
    async with running_worker(world.nexus.settings):
        code, out = await trigger(world, "--list", "424242", "--description", "@ai-backend go")
    assert code == 3, out
    assert "its list 424242 is not a registered project" in out


async def test_a_task_summoning_a_registered_alias_is_reported_tracked(world: TaskWorld) -> None:
    await world.register_agent("ai-backend")
    async with running_worker(world.nexus.settings):
        code, out = await trigger(
            world, "--list", world.list_id, "--name", "Fix login", "--description", "@ai-backend go"
        )
    assert code == 0, out
    assert "is tracked in" in out
    assert "agents: ai-backend" in out
    assert f"Slack thread {world.slack.messages(world.channel)[-1]['ts']} in channel" in out, out


async def test_without_an_admin_token_the_trigger_says_how_to_see_the_outcome(world: TaskWorld) -> None:
    code, out = await trigger(world, "--list", world.list_id, "--description", "@ai-backend go", admin=False)
    assert code == 0, out
    assert "set OBLIVION_ADMIN_TOKEN" in out
