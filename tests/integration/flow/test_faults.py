"""Faults in the flow: Slack rate limits, a queue without Redis."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.worker import running_worker
from tests.fakes import slack_events
from tests.fakes.clickup_delivery import send_webhook
from tests.fakes.slack_events import SlackEventSender
from tests.support.nexus import running_nexus
from tests.support.servers import free_port
from tests.support.taskflow import (
    ALIAS,
    LIST_ID,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    queued_counts,
    register_team,
)
from tests.support.waiting import eventually


async def test_slack_rate_limit_delays_the_job_and_the_root_message_is_posted_once(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    stack.slack.rate_limit("chat.postMessage", times=2, retry_after=1)
    async with running_worker(stack.settings):
        await stack.clickup.create_task(list_id=LIST_ID, name="Busy Slack", description=f"@{ALIAS}")
        await eventually(lambda: assigned(stack), timeout=20, what="TASK_ASSIGNED after the rate limit")
    roots = [m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m]
    assert len(roots) == 1
    assert len(stack.slack.calls_to("chat.postMessage")) == 3  # two 429s, then the post
    assert (await queued_counts(stack)).get("failed", 0) == 0


async def assigned(stack: FlowStack) -> list[object]:
    return [f for f in await inbox_frames(stack) if f["type"] == "TASK_ASSIGNED"]


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of this test alone (never the machine's shared one), stopped afterwards."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server`", pytrace=False)
    proc = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # polling interval of a readiness wait
        client.close()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


async def test_webhooks_are_answered_503_while_redis_is_down_and_200_once_it_is_back(
    flow_settings: NexusSettings, fake_slack: object
) -> None:
    port = free_port()
    settings = flow_settings.model_copy(
        update={
            "redis": flow_settings.redis.model_copy(update={"url": f"redis://127.0.0.1:{port}/0"}),
            "queue": flow_settings.queue.model_copy(update={"enqueue_timeout_seconds": 1.0}),
        }
    )
    secret = settings.clickup.webhook_secret.get_secret_value()  # type: ignore[union-attr]
    signing = settings.slack.signing_secret.get_secret_value()  # type: ignore[union-attr]
    slack_payload = slack_events.event_callback(slack_events.message_event("C1", "hi"))
    with private_redis(port) as server:
        async with running_nexus(settings) as nexus:
            url = nexus.url + "/webhooks/clickup"
            server.terminate()
            server.wait(10)
            down = await send_webhook(url, "taskCreated", secret=secret, task_id="t1", max_attempts=1)
            assert down.statuses == [503]
            slack_down = await SlackEventSender(nexus.url + "/webhooks/slack", signing).attempt(slack_payload)
            assert slack_down.status == 503
            with private_redis(port):
                back = await eventually(
                    lambda: _delivered(url, secret), timeout=15, what="a webhook accepted after Redis is back"
                )
                assert back


async def _delivered(url: str, secret: str) -> bool:
    delivery = await send_webhook(url, "taskCreated", secret=secret, task_id="t2", max_attempts=1)
    return delivery.statuses == [200]
