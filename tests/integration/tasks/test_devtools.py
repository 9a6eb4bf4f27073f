"""``oblivion trigger clickup-task`` against a running Nexus, and ``oblivion dev`` as a process."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld
from tests.support.processes import oblivion_executable
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).parents[3]


async def oblivion(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    process = await asyncio.create_subprocess_exec(
        oblivion_executable(),
        *args,
        cwd=REPO_ROOT,
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_trigger_creates_the_task_in_clickup_and_nexus_accepts_the_signed_webhook(
    world: TaskWorld,
) -> None:
    secret = world.nexus.settings.clickup.webhook_secret
    assert secret is not None
    env = {
        "OBLIVION_CLICKUP_WEBHOOK_SECRET": secret.get_secret_value(),
        "OBLIVION_CLICKUP_API_URL": world.clickup.url,
        "OBLIVION_CLICKUP_TOKEN": world.clickup.token,
    }
    code, out = await oblivion(
        "trigger",
        "clickup-task",
        "--list",
        world.list_id,
        "--name",
        "Fix login",
        "--description",
        "@backend-bot users are logged out",
        "--nexus-url",
        world.nexus.url,
        env=env,
    )
    assert code == 0, out
    created = [task for task in world.clickup.tasks.values() if task["name"] == "Fix login"]
    assert len(created) == 1
    assert created[0]["description"] == "@backend-bot users are logged out"
    assert f"task_id={created[0]['id']} -> 200" in out
    assert secret.get_secret_value() not in out


async def test_trigger_for_an_existing_task_signed_with_the_wrong_secret_is_refused(world: TaskWorld) -> None:
    task = world.clickup.add_task(list_id=world.list_id, name="Exists")
    env = {"OBLIVION_CLICKUP_WEBHOOK_SECRET": "not-the-secret"}
    code, out = await oblivion(
        "trigger",
        "clickup-task",
        "--list",
        world.list_id,
        "--task-id",
        task["id"],
        "--nexus-url",
        world.nexus.url,
        env=env,
    )
    assert code == 1
    assert "-> 401" in out
    assert "Nexus refused the webhook" in out


async def test_trigger_without_a_task_or_a_clickup_token_says_what_to_pass(world: TaskWorld) -> None:
    code, out = await oblivion(
        "trigger",
        "clickup-task",
        "--list",
        "1",
        "--nexus-url",
        world.nexus.url,
        env={"OBLIVION_CLICKUP_WEBHOOK_SECRET": "x"},
    )
    assert code == 2
    assert "--task-id" in out
    assert "OBLIVION_CLICKUP_TOKEN" in out


async def test_oblivion_dev_the_triage_agent_and_a_trigger_make_the_whole_flow_on_a_laptop(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> None:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="oblivion-dev-"))
    env = {
        **{k: v for k, v in nexus_env.items() if k != "OBLIVION_ADMIN_TOKEN"},
        "OBLIVION_HOST": "127.0.0.1",
        "OBLIVION_PORT": str(port),
        "OBLIVION_SLACK_BOT_TOKEN": fake_slack.bot_token,
        "OBLIVION_SLACK_API_URL": fake_slack.url + "/api/",
        "OBLIVION_CLICKUP_TOKEN": fake_clickup.token,
        "OBLIVION_CLICKUP_API_URL": fake_clickup.url,
    }
    env_file = workdir / "dev.env"
    log_path = workdir / "dev.log"
    secret_registry.add_log_file(log_path)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            oblivion_executable(),
            "dev",
            "--env-file",
            str(env_file),
            "--qdrant-path",
            str(workdir / "qdrant"),
            cwd=workdir,
            env={**base, **env},
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    triage: asyncio.subprocess.Process | None = None
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            deadline = time.monotonic() + 30
            while True:
                assert process.returncode is None, log_path.read_text()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.1)
            generated = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            secret_registry.add(*generated.values())
            assert env_file.stat().st_mode & 0o777 == 0o600
            output = log_path.read_text()
            assert f"API             {url}" in output
            assert f"{url}/webhooks/clickup" in output
            assert "embedded at" in output
            admin = {"Authorization": f"Bearer {generated['OBLIVION_ADMIN_TOKEN']}"}
            channel = fake_slack.add_channel(f"proj-{uuid.uuid4().hex[:6]}", bot_is_member=True)["id"]
            wg, list_id = f"wg-{uuid.uuid4().hex[:8]}", str(800_000 + secrets.randbelow(99_999))
            agent_secret = secrets.token_urlsafe(16)
            secret_registry.add(agent_secret)
            for path, body in (
                (f"/internal/v1/workgroups/{wg}", {}),
                (
                    f"/internal/v1/workgroups/{wg}/projects/web",
                    {
                        "clickupListId": list_id,
                        "slackChannelId": channel,
                        "statusMap": {"IN_PROGRESS": "in progress"},
                    },
                ),
                (
                    f"/internal/v1/workgroups/{wg}/agents/backend-bot",
                    {
                        "clientId": f"{wg}-bot",
                        "clientSecret": agent_secret,
                        "displayName": "Backend Bot",
                        "aliases": ["backend-bot"],
                    },
                ),
            ):
                r = await client.put(path, json=body, headers=admin)
                assert r.status_code == 201, r.text
        agent_log = workdir / "agent.log"
        secret_registry.add_log_file(agent_log)
        agent_env = {
            "OBLIVION_NEXUS_URL": url,
            "OBLIVION_CLIENT_ID": f"{wg}-bot",
            "OBLIVION_CLIENT_SECRET": agent_secret,
        }
        with agent_log.open("wb") as log_file:
            triage = await asyncio.create_subprocess_exec(
                oblivion_executable(),
                "agent",
                "run",
                "examples.agents.triage:agent",
                cwd=REPO_ROOT,
                env={**base, **agent_env},
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        trigger_env = {
            "OBLIVION_CLICKUP_WEBHOOK_SECRET": generated["OBLIVION_CLICKUP_WEBHOOK_SECRET"],
            "OBLIVION_CLICKUP_API_URL": fake_clickup.url,
            "OBLIVION_CLICKUP_TOKEN": fake_clickup.token,
        }
        code, out = await oblivion(
            "trigger",
            "clickup-task",
            "--list",
            list_id,
            "--name",
            "Fix login",
            "--description",
            "@backend-bot please",
            "--nexus-url",
            url,
            env=trigger_env,
        )
        assert code == 0, out
        deadline = time.monotonic() + 15
        while not fake_slack.messages(channel):
            assert time.monotonic() < deadline, "no root message was posted:\n" + log_path.read_text()
            await asyncio.sleep(0.1)
        root = fake_slack.messages(channel)[0]
        assert "Fix login" in str(root)
        task_id = next(t["id"] for t in fake_clickup.tasks.values() if t["name"] == "Fix login")

        def replies() -> list[str]:
            return [m["text"] for m in fake_slack.thread(channel, root["ts"])[1:]]

        deadline = time.monotonic() + 20
        while not any(text.startswith("Plan:") for text in replies()):
            assert triage.returncode is None, agent_log.read_text()
            assert time.monotonic() < deadline, (
                f"the agent did not answer: {replies()}\n{agent_log.read_text()}"
            )
            await asyncio.sleep(0.1)
        while fake_clickup.tasks[task_id]["status"]["status"] != "in progress":
            assert time.monotonic() < deadline, "the task was not moved to in progress"
            await asyncio.sleep(0.1)
        assert replies()[0] == "Acknowledged: Fix login. I am on it."
        comments = [c["comment_text"] for c in fake_clickup.comments_newest_first(task_id)]
        assert any(text.startswith("Backend Bot (Oblivion): Plan:") for text in comments)
        triage.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(triage.wait(), 30) == 0, agent_log.read_text()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0, log_path.read_text()
    finally:
        for child in (process, triage):
            if child is not None and child.returncode is None:
                child.kill()
                await child.wait()
