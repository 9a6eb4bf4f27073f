"""Faults of the outside world against Nexus as processes: redeliveries, retries, double events, a
worker killed with SIGKILL mid-flow, Redis going away and coming back, Slack rate limits, and input
that must be refused without queueing anything.

Here Nexus manages no ClickUp webhook: each test plays ClickUp's delivery itself (signed with the
fallback secret, ``webhook_id`` unknown to Nexus) to control exactly what arrives and how often. The
fake ClickUp still holds every task, since the worker fetches it from there. No agent is connected,
so every ``TASK_ASSIGNED`` stays in the agent's inbox, where it is counted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Stack, Team
from tests.fakes import clickup_payloads as shapes
from tests.fakes import slack_events
from tests.fakes.clickup_delivery import deliver
from tests.fakes.slack_events import SlackEventSender
from tests.secret_logs import SecretRegistry
from tests.support.stores import PrivateRedis, scratch_database
from tests.support.waiting import eventually

DEADLINE = 30.0  # generous bound for conditions on a loaded 2-core machine; tests poll, never sleep
KILLED_WORKER_TASKS = 200


def start_stack(stack: Stack, *, apis: int = 2) -> None:
    stack.start_fakes()
    stack.migrate()
    for _ in range(apis):
        stack.start_api()
    stack.start_worker()


@pytest.fixture(scope="module")
def nexus(
    redis_url: str, secret_registry: SecretRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    log_dir = Path(tmp_path_factory.mktemp("e2e-faults"))
    with scratch_database("oblivion_e2e") as database_url:
        stack = Stack(
            database_url=database_url, redis_url=redis_url, log_dir=log_dir, manage_clickup_webhooks=False
        )
        secret_registry.add(*stack.secret_values())
        try:
            start_stack(stack)
            yield stack
        finally:
            stack.close()
            for proc in stack.processes:
                secret_registry.add_log_file(proc.log_path)


@pytest.fixture
def team(nexus: Stack, secret_registry: SecretRegistry) -> Team:
    registered = nexus.register_team()
    secret_registry.add(registered.client_secret)
    return registered


def task_created_body(team: Team, task_id: str, *, event: str = "taskCreated") -> bytes:
    """ClickUp's delivery of a creation (``taskStatusUpdated`` carries the status item only)."""
    items = shapes.creation_history_items(team.list_id, "to do", dict(shapes.DEFAULT_USER))
    if event == "taskStatusUpdated":
        items = items[:1]
    payload = shapes.webhook_payload(
        event, task_id=task_id, webhook_id=str(uuid.uuid4()), history_items=items
    )
    return shapes.compact_json(payload)


def quiet_task(nexus: Stack, team: Team, name: str) -> str:
    """A task that exists in ClickUp; no webhook is registered there, so nothing is delivered yet."""
    assert nexus.clickup is not None
    return str(nexus.clickup.create_task(team.list_id, name, f"@{team.alias} {name}")["id"])


async def settle(nexus: Stack) -> None:
    for _ in range(2):
        await eventually(nexus.queue_drained, timeout=DEADLINE, what="webhook queue drained")


def assert_one_thread_each(nexus: Stack, team: Team, task_ids: set[str]) -> None:
    """Exactly one root message, one thread-link comment and one TASK_ASSIGNED per task."""
    assert nexus.slack is not None
    assert nexus.clickup is not None
    roots = nexus.slack.roots_by_task(team.channel_id)
    assert set(roots) == task_ids
    assert {t: len(m) for t, m in roots.items() if len(m) != 1} == {}
    for task_id in task_ids:
        links = [c for c in nexus.clickup.comments(task_id) if "Slack thread: " in str(c.get("comment_text"))]
        assert len(links) == 1, (task_id, links)
    assigned = [f["data"]["task_id"] for f in nexus.inbox_frames(team) if f["type"] == "TASK_ASSIGNED"]
    assert sorted(assigned) == sorted(task_ids)


async def test_the_same_clickup_delivery_five_times_makes_one_thread(nexus: Stack, team: Team) -> None:
    task_id = quiet_task(nexus, team, "Five deliveries")
    body = task_created_body(team, task_id)
    secret = nexus.secrets["clickup_webhook_secret"]
    statuses = [await deliver(nexus.api_urls[n % 2] + "/webhooks/clickup", body, secret) for n in range(5)]
    assert statuses == [200] * 5
    await settle(nexus)
    assert_one_thread_each(nexus, team, {task_id})


async def test_clickups_double_events_for_one_creation_make_one_thread(nexus: Stack, team: Team) -> None:
    task_id = quiet_task(nexus, team, "Double events")
    secret = nexus.secrets["clickup_webhook_secret"]
    created = task_created_body(team, task_id)
    # ClickUp's companion event repeats the creation's status history item (same id).
    payload = json.loads(created)
    status_only = {**payload, "event": "taskStatusUpdated", "history_items": payload["history_items"][:1]}
    both = await asyncio.gather(
        deliver(nexus.api_urls[0] + "/webhooks/clickup", created, secret),
        deliver(nexus.api_urls[1] + "/webhooks/clickup", shapes.compact_json(status_only), secret),
    )
    assert list(both) == [200, 200]
    await settle(nexus)
    assert_one_thread_each(nexus, team, {task_id})


async def tracked_thread(nexus: Stack, team: Team, name: str) -> tuple[str, str]:
    """A task Nexus took up: its id and the ``ts`` of its root message."""
    assert nexus.slack is not None
    slack = nexus.slack
    task_id = quiet_task(nexus, team, name)
    url, secret = nexus.api_urls[0] + "/webhooks/clickup", nexus.secrets["clickup_webhook_secret"]
    assert await deliver(url, task_created_body(team, task_id), secret) == 200
    root = await eventually(
        lambda: slack.roots_by_task(team.channel_id).get(task_id),
        timeout=DEADLINE,
        what="root message",
        watch=nexus.processes,
    )
    return task_id, str(root[0]["ts"])


def reply_event(nexus: Stack, team: Team, thread_ts: str, text: str) -> dict[str, object]:
    """A person's reply in the thread, posted in Slack, as the ``event_callback`` Slack sends for it."""
    assert nexus.slack is not None
    reply = nexus.slack.post_as_user(team.channel_id, text, thread_ts=thread_ts)
    return slack_events.event_callback(
        slack_events.message_event(team.channel_id, text, ts=reply["ts"], thread_ts=thread_ts)
    )


def mirrored(nexus: Stack, task_id: str, text: str) -> list[dict[str, object]]:
    assert nexus.clickup is not None
    return [c for c in nexus.clickup.comments(task_id) if text in str(c.get("comment_text"))]


async def test_slack_retries_of_a_thread_reply_make_one_clickup_comment(nexus: Stack, team: Team) -> None:
    task_id, thread_ts = await tracked_thread(nexus, team, "Slack retries")
    event = reply_event(nexus, team, thread_ts, "Retried reply")
    sender = SlackEventSender(nexus.api_urls[1] + "/webhooks/slack", nexus.secrets["slack_signing_secret"])
    first = await sender.attempt(event)
    retries = [await sender.attempt(event, retry_num=n, retry_reason="http_timeout") for n in (1, 2, 3)]
    assert [a.status for a in (first, *retries)] == [200, 200, 200, 200]
    await settle(nexus)
    assert len(mirrored(nexus, task_id, "Retried reply")) == 1
    updates = [f for f in nexus.inbox_frames(team) if f["type"] == "CONTEXT_UPDATE"]
    assert len(updates) == 1


async def test_a_slack_retry_whose_first_attempt_was_lost_is_mirrored_once(nexus: Stack, team: Team) -> None:
    task_id, thread_ts = await tracked_thread(nexus, team, "Lost first attempt")
    event = reply_event(nexus, team, thread_ts, "Only the retry arrived")
    sender = SlackEventSender(nexus.api_urls[0] + "/webhooks/slack", nexus.secrets["slack_signing_secret"])
    assert (await sender.attempt(event, retry_num=2, retry_reason="http_timeout")).status == 200
    await eventually(
        lambda: mirrored(nexus, task_id, "Only the retry arrived"),
        timeout=DEADLINE,
        what="the retried reply mirrored to ClickUp",
        watch=nexus.processes,
    )
    await settle(nexus)
    assert len(mirrored(nexus, task_id, "Only the retry arrived")) == 1


async def test_slack_rate_limit_while_posting_is_waited_out_and_the_root_message_posted_once(
    nexus: Stack, team: Team
) -> None:
    assert nexus.slack is not None
    slack = nexus.slack
    await settle(nexus)  # no other job may take the planned 429
    task_id = quiet_task(nexus, team, "Busy Slack")
    retry_after = 2.0
    slack.rate_limit("chat.postMessage", times=1, retry_after=retry_after)
    sent_at = time.time()
    assert (
        await deliver(
            nexus.api_urls[0] + "/webhooks/clickup",
            task_created_body(team, task_id),
            nexus.secrets["clickup_webhook_secret"],
        )
        == 200
    )
    roots = await eventually(
        lambda: slack.roots_by_task(team.channel_id).get(task_id),
        timeout=DEADLINE,
        what="root message after the rate limit",
        watch=nexus.processes,
    )
    await settle(nexus)
    assert float(roots[0]["ts"]) - sent_at >= retry_after - 0.05  # Retry-After honoured
    assert [c["status"] for c in slack.calls("chat.postMessage") if c["status"] == 429] == [429]
    assert_one_thread_each(nexus, team, {task_id})
    assert (await nexus.queue_counts()).get("failed", 0) == 0


async def test_bad_signatures_stale_timestamps_and_malformed_bodies_are_refused_and_queue_nothing(
    nexus: Stack, team: Team
) -> None:
    await settle(nexus)
    before = await nexus.queue_counts()
    clickup_secret, slack_secret = (
        nexus.secrets["clickup_webhook_secret"],
        nexus.secrets["slack_signing_secret"],
    )
    body = task_created_body(team, quiet_task(nexus, team, "Refused"))
    event = json.dumps(slack_events.event_callback(slack_events.message_event(team.channel_id, "x"))).encode()
    stale = int(time.time()) - 301
    async with httpx.AsyncClient(timeout=10) as http:
        for url in nexus.api_urls:
            clickup, slack = url + "/webhooks/clickup", url + "/webhooks/slack"
            answers: dict[str, int] = {
                "clickup wrong secret": await deliver(clickup, body, "not-the-secret", http=http) or 0,
                "clickup unsigned": (await http.post(clickup, content=body)).status_code,
                "clickup signature of another body": (
                    await http.post(
                        clickup, content=body + b" ", headers=_clickup_headers(body, clickup_secret)
                    )
                ).status_code,
                "slack wrong secret": (
                    await SlackEventSender(slack, "not-the-secret", http=http).attempt(event)
                ).status
                or 0,
                "slack stale timestamp": (
                    await SlackEventSender(slack, slack_secret, http=http).attempt(event, timestamp=stale)
                ).status
                or 0,
            }
            assert set(answers.values()) == {401}, answers
            malformed = {
                "clickup not JSON": await deliver(clickup, b"{not json", clickup_secret, http=http),
                "clickup not an event": await deliver(clickup, b"[1, 2]", clickup_secret, http=http),
                "slack not JSON": (
                    await SlackEventSender(slack, slack_secret, http=http).attempt(b"{no")
                ).status,
            }
            assert all(status is not None and 400 <= status < 500 for status in malformed.values()), malformed
            huge = b'{"event": "taskCreated", "pad": "' + b"x" * 2_000_000 + b'"}'
            assert await deliver(clickup, huge, clickup_secret, http=http) == 413
    assert await nexus.queue_counts() == before
    assert all(proc.alive for proc in nexus.apis)


def _clickup_headers(body: bytes, secret: str) -> dict[str, str]:
    from oblivion_nexus.services.taskflow.signatures import sign_clickup_body

    return {"Content-Type": "application/json", "X-Signature": sign_clickup_body(body, secret)}


@pytest.mark.timeout(300)  # 200 tasks, a kill and a recovery on a loaded 2-core machine
async def test_worker_killed_during_200_tasks_leaves_each_with_exactly_one_root_message(
    nexus: Stack, team: Team
) -> None:
    assert nexus.slack is not None
    slack = nexus.slack
    task_ids = [quiet_task(nexus, team, f"Task {n}") for n in range(KILLED_WORKER_TASKS)]
    secret = nexus.secrets["clickup_webhook_secret"]
    async with httpx.AsyncClient(timeout=10) as http:
        gate = asyncio.Semaphore(20)  # ClickUp delivers in parallel, but not 200 at once

        async def one(n: int, task_id: str) -> int | None:
            async with gate:
                url = nexus.api_urls[n % 2] + "/webhooks/clickup"
                return await deliver(url, task_created_body(team, task_id), secret, http=http)

        delivering = asyncio.gather(*(one(n, t) for n, t in enumerate(task_ids)))
        await eventually(
            lambda: len(slack.roots_by_task(team.channel_id)) >= 10,
            timeout=DEADLINE,
            what="first root messages",
            watch=nexus.processes,
        )
        victim = next(w for w in nexus.workers if w.alive)
        victim.kill()  # kill -9: no cleanup, its jobs stay locked until the lock expires
        done_at_kill = len(slack.roots_by_task(team.channel_id))
        statuses = await delivering
    assert statuses == [200] * KILLED_WORKER_TASKS
    assert done_at_kill < KILLED_WORKER_TASKS, "the worker finished before it could be killed"
    nexus.start_worker()
    await eventually(
        lambda: len(slack.roots_by_task(team.channel_id)) == KILLED_WORKER_TASKS,
        timeout=90,
        what=f"{KILLED_WORKER_TASKS} root messages after a new worker started",
        watch=nexus.apis,
    )
    await settle(nexus)
    assert_one_thread_each(nexus, team, set(task_ids))


@pytest.mark.timeout(300)  # its own database, fakes, API and worker, plus an outage
async def test_redis_stopped_answers_503_and_after_its_restart_nothing_is_lost(
    redis_url: str, secret_registry: SecretRegistry, tmp_path: Path
) -> None:
    private = PrivateRedis(tmp_path).start()
    with scratch_database("oblivion_e2e") as database_url:
        stack = Stack(
            database_url=database_url, redis_url=private.url, log_dir=tmp_path, manage_clickup_webhooks=False
        )
        secret_registry.add(*stack.secret_values())
        try:
            start_stack(stack, apis=1)
            await _outage(stack, private, secret_registry)
        finally:
            stack.close()
            private.stop()
            for proc in stack.processes:
                secret_registry.add_log_file(proc.log_path)


async def _outage(stack: Stack, private: PrivateRedis, secret_registry: SecretRegistry) -> None:
    assert stack.slack is not None
    slack = stack.slack
    team = stack.register_team()
    secret_registry.add(team.client_secret)
    url, secret = stack.api_urls[0] + "/webhooks/clickup", stack.secrets["clickup_webhook_secret"]
    before = quiet_task(stack, team, "Before the outage")
    assert await deliver(url, task_created_body(team, before), secret) == 200

    await eventually(
        lambda: slack.roots_by_task(team.channel_id).get(before),
        timeout=DEADLINE,
        what="root message before the outage",
        watch=stack.processes,
    )
    private.stop()
    during = quiet_task(stack, team, "During the outage")
    body = task_created_body(team, during)
    assert await deliver(url, body, secret) == 503
    event = slack_events.event_callback(slack_events.message_event(team.channel_id, "hello"))
    slack_sender = SlackEventSender(
        stack.api_urls[0] + "/webhooks/slack", stack.secrets["slack_signing_secret"]
    )
    assert (await slack_sender.attempt(event)).status == 503

    private.proc.start()  # same port, same append-only file
    accepted = await eventually(
        lambda: _accepted(url, body, secret),
        timeout=DEADLINE,
        what="the redelivery accepted once Redis is back",
        watch=stack.apis,
    )
    assert accepted
    await eventually(
        lambda: slack.roots_by_task(team.channel_id).get(during),
        timeout=60,
        what="root message of the task delivered during the outage",
        watch=stack.processes,
    )
    await settle(stack)
    assert_one_thread_each(stack, team, {before, during})
    assert all(proc.alive for proc in stack.processes)


async def _accepted(url: str, body: bytes, secret: str) -> bool:
    return await deliver(url, body, secret) == 200
