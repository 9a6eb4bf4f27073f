"""The fakes deliver webhooks exactly as ClickUp and Slack do: a receiver built from Nexus's own
signature checks and parsers accepts them, and failures are retried the way the vendors retry."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent, parse_clickup_webhook
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.integrations.slack_events import (
    SlackEventCallback,
    SlackUrlVerification,
    parse_slack_payload,
)
from oblivion_nexus.services.taskflow.signatures import (
    SignatureError,
    verify_clickup_signature,
    verify_slack_signature,
)
from tests.fakes import slack_events
from tests.fakes.clickup import FakeClickUp, send_webhook
from tests.fakes.slack import FakeSlack
from tests.support.processes import Proc
from tests.support.servers import LoopbackServer, free_port
from tests.support.waiting import eventually

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class Receiver:
    """A stand-in for Nexus's webhook endpoints: verifies, parses, records, or fails on demand."""

    clickup_secrets: dict[str, str] = field(default_factory=dict)
    clickup_events: list[ClickUpWebhookEvent] = field(default_factory=list)
    slack_events: list[SlackEventCallback] = field(default_factory=list)
    slack_retry_headers: list[tuple[str | None, str | None]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503
    no_retry: bool = False
    slow_next: int = 0

    async def clickup(self, request: Request) -> Response:
        raw = await request.body()
        event = parse_clickup_webhook(raw)
        try:
            verify_clickup_signature(
                raw, request.headers.get("x-signature"), self.clickup_secrets[event.webhook_id]
            )
        except SignatureError as e:
            self.refusals.append(e.reason)
            return Response(status_code=401)
        if self.fail_next:
            self.fail_next -= 1
            return Response(status_code=self.fail_status)
        self.clickup_events.append(event)
        return Response(status_code=200)

    async def slack(self, request: Request) -> Response:
        raw = await request.body()
        try:
            verify_slack_signature(
                raw,
                request.headers.get("x-slack-request-timestamp"),
                request.headers.get("x-slack-signature"),
                SLACK_SECRET,
                now=time.time(),
            )
        except SignatureError as e:
            self.refusals.append(e.reason)
            return Response(status_code=401)
        self.slack_retry_headers.append(
            (request.headers.get("x-slack-retry-num"), request.headers.get("x-slack-retry-reason"))
        )
        if self.slow_next:
            self.slow_next -= 1
            await asyncio.sleep(1.0)  # slower than the sender's timeout in the test that sets this
        if self.fail_next:
            self.fail_next -= 1
            headers = {"X-Slack-No-Retry": "1"} if self.no_retry else None
            return Response(status_code=self.fail_status, headers=headers)
        payload = parse_slack_payload(raw)
        if isinstance(payload, SlackUrlVerification):
            return PlainTextResponse(payload.challenge)
        assert isinstance(payload, SlackEventCallback)
        self.slack_events.append(payload)
        return JSONResponse({})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    app = Starlette(
        routes=[
            Route("/webhooks/clickup", state.clickup, methods=["POST"]),
            Route("/webhooks/slack", state.slack, methods=["POST"]),
        ]
    )
    with LoopbackServer(app) as server:
        yield state, server.base_url


async def _register(
    clickup: ClickUpClient, fake: FakeClickUp, receiver: Receiver, url: str, list_id: str
) -> str:
    hook = await clickup.create_webhook(fake.team_id, f"{url}/webhooks/clickup", ["*"], list_id=list_id)
    assert hook.secret is not None
    receiver.clickup_secrets[hook.id] = hook.secret.get_secret_value()
    return hook.id


async def test_task_creation_is_delivered_signed_with_its_companion_event(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    hook_id = await _register(clickup, fake_clickup, state, url, "900100")

    task, deliveries = await fake_clickup.create_task(list_id="900100", name="Login broken @ai-backend")

    assert [d.delivered for d in deliveries] == [True, True]
    assert [e.event for e in state.clickup_events] == ["taskCreated", "taskStatusUpdated"]
    created, companion = state.clickup_events
    assert created.task_id == task["id"]
    assert created.webhook_id == hook_id
    assert created.list_id == "900100"
    assert created.dedupe_key != companion.dedupe_key
    assert state.refusals == []


async def test_one_status_change_arrives_twice_with_one_dedupe_key(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    await _register(clickup, fake_clickup, state, url, "900100")
    task = fake_clickup.add_task(list_id="900100", name="t")

    await fake_clickup.change_status(task["id"], "in progress")
    comment, _ = await fake_clickup.post_comment(task["id"], "please also check SSO")
    await fake_clickup.change_description(task["id"], "new @ai-backend text")
    await fake_clickup.delete_task(task["id"])

    events = {e.event: e for e in state.clickup_events}
    assert [e.event for e in state.clickup_events] == [
        "taskStatusUpdated",
        "taskUpdated",
        "taskCommentPosted",
        "taskUpdated",
        "taskDeleted",
    ]
    assert state.clickup_events[0].dedupe_key == state.clickup_events[1].dedupe_key
    assert state.clickup_events[1].status_change == ("to do", "in progress")
    assert events["taskCommentPosted"].comment is not None
    assert events["taskCommentPosted"].comment.id == comment["id"]
    assert events["taskCommentPosted"].comment.plain_text == "please also check SSO"
    assert state.clickup_events[3].description_text == "new @ai-backend text"
    assert events["taskDeleted"].history_items == []


async def test_webhooks_of_other_lists_are_not_sent(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    await _register(clickup, fake_clickup, state, url, "900100")

    _, deliveries = await fake_clickup.create_task(list_id="555", name="elsewhere")

    assert deliveries == []
    assert state.clickup_events == []


async def test_failing_endpoint_gets_five_attempts_then_a_fail_count(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    hook_id = await _register(clickup, fake_clickup, state, url, "900100")
    state.fail_next = 5

    _, deliveries = await fake_clickup.create_task(list_id="900100", name="t")

    assert deliveries[0].statuses == [503] * 5
    assert deliveries[1].statuses == [200]  # the companion event, after the endpoint recovered
    webhook = (await clickup.list_webhooks(fake_clickup.team_id))[0]
    assert webhook.id == hook_id
    assert webhook.health.status == "active"  # a success resets the count, as ClickUp does
    assert [e.event for e in state.clickup_events] == ["taskStatusUpdated"]


async def test_endpoint_answering_410_suspends_the_webhook_at_once(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    await _register(clickup, fake_clickup, state, url, "900100")
    state.fail_next, state.fail_status = 1, 410

    _, deliveries = await fake_clickup.create_task(list_id="900100", name="t")

    assert [d.statuses for d in deliveries] == [[410]]  # suspended: the companion is not even sent
    assert (await clickup.list_webhooks(fake_clickup.team_id))[0].is_suspended


async def test_delivery_signed_with_another_secret_is_refused(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    hook_id = await _register(clickup, fake_clickup, state, url, "900100")
    state.clickup_secrets[hook_id] = "not-the-secret"

    _, deliveries = await fake_clickup.create_task(list_id="900100", name="t")

    assert deliveries[0].statuses == [401]
    assert state.refusals == ["mismatch"]
    assert state.clickup_events == []


async def test_slack_event_is_delivered_signed(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    sender = slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET)
    reply = slack_events.event_callback(
        slack_events.message_event("C1", "hello", thread_ts="1726133698.626339")
    )

    delivery = await sender.send(reply)
    challenge = await sender.send(slack_events.url_verification("abc123"))

    assert delivery.delivered
    assert [e.event_id for e in state.slack_events] == [reply["event_id"]]
    assert state.slack_events[0].event.is_thread_reply
    assert challenge.response_body == b"abc123"
    assert state.slack_retry_headers == [(None, None), (None, None)]


async def test_failed_slack_delivery_is_retried_with_retry_headers(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_next = 2
    sender = slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET)

    delivery = await sender.send(slack_events.event_callback(slack_events.message_event("C1", "hi")))

    assert [a.status for a in delivery.attempts] == [503, 503, 200]
    assert state.slack_retry_headers == [(None, None), ("1", "http_error"), ("2", "http_error")]
    assert len(state.slack_events) == 1


async def test_slow_answer_is_retried_as_an_http_timeout(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.slow_next = 1
    sender = slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET, timeout=0.3)

    delivery = await sender.send(slack_events.event_callback(slack_events.message_event("C1", "hi")))

    assert [a.status for a in delivery.attempts] == [None, 200]
    assert delivery.attempts[1].retry_reason == "http_timeout"


async def test_no_retry_header_stops_slack_retrying(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_next, state.no_retry = 3, True
    sender = slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET)

    delivery = await sender.send(slack_events.event_callback(slack_events.message_event("C1", "hi")))

    assert [a.status for a in delivery.attempts] == [503]
    assert not delivery.delivered


async def test_stale_slack_timestamp_is_refused(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    sender = slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET)

    attempt = await sender.attempt(
        slack_events.event_callback(slack_events.message_event("C1", "hi")), timestamp=int(time.time()) - 301
    )

    assert attempt.status == 401
    assert state.refusals == ["stale"]


async def test_fake_clickup_runs_as_a_process_driven_through_its_control_api(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "tests.fakes.clickup", "--port", str(port), "--token", "pk_proc"]
    env = {"PYTHONPATH": os.pathsep.join(["nexus", "agent-runtime", "."])}
    process = Proc("fake-clickup", argv, env, tmp_path).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:

            async def answers() -> bool:
                try:
                    return (await http.get("/_fake/calls")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(answers, timeout=20, what="the fake ClickUp process listening", watch=[process])
            created = (await http.post("/_fake/tasks", json={"list_id": "42", "name": "from outside"})).json()
        async with ClickUpClient("pk_proc", base_url=f"{base}/api/v2/") as client:
            task = await client.get_task(created["task"]["id"])
        assert task.name == "from outside"
        assert task.home_list is not None
        assert task.home_list.id == "42"
    finally:
        process.stop(timeout=10)


@pytest.mark.parametrize(
    "event",
    [
        "taskCreated",
        "taskStatusUpdated",
        "taskUpdated",
        "taskCommentPosted",
        "taskAssigneeUpdated",
        "taskDeleted",
    ],
)
async def test_any_clickup_event_can_be_sent_signed_to_any_url(
    receiver: tuple[Receiver, str], event: str
) -> None:
    state, url = receiver
    state.clickup_secrets["wh-1"] = "shared-secret"

    delivery = await send_webhook(
        f"{url}/webhooks/clickup", event, secret="shared-secret", task_id="abc1", webhook_id="wh-1"
    )

    assert delivery.statuses == [200]
    (received,) = state.clickup_events
    assert (received.event, received.task_id, received.webhook_id) == (event, "abc1", "wh-1")
    assert received.dedupe_key.startswith("wh-1:")
    assert (received.history_items == []) is (event == "taskDeleted")


async def test_a_slack_event_can_be_sent_in_one_call(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    mention = slack_events.event_callback(slack_events.app_mention_event("C1", "<@U0LAN0Z89> wake up"))

    delivery = await slack_events.send_slack_event(f"{url}/webhooks/slack", mention, SLACK_SECRET)

    assert delivery.delivered
    assert state.slack_events[0].event.type == "app_mention"


async def _wait_for_events(state: Receiver, count: int) -> list[ClickUpWebhookEvent]:
    await eventually(lambda: len(state.clickup_events) >= count, what=f"{count} webhooks to arrive")
    return state.clickup_events


async def test_changes_made_through_the_api_come_back_as_webhooks_by_the_token_user(
    fake_clickup: FakeClickUp, clickup: ClickUpClient, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    await _register(clickup, fake_clickup, state, url, "900100")
    task = fake_clickup.add_task(list_id="900100", name="t")
    me = await clickup.get_authorized_user()

    created = await clickup.create_task_comment(task["id"], "Jane (Slack): ship it")
    await clickup.update_task(task["id"], status="in progress")

    comment, status_one, status_two = await _wait_for_events(state, 3)
    assert comment.event == "taskCommentPosted"
    assert comment.comment is not None
    assert comment.comment.id == created.id  # the echo a mirror ledger must recognise
    assert comment.actor is not None
    assert comment.actor.id == me.id
    assert comment.primary_item is not None
    assert comment.primary_item.id == created.hist_id
    assert {status_one.event, status_two.event} == {"taskStatusUpdated", "taskUpdated"}
    assert status_one.dedupe_key == status_two.dedupe_key


async def test_messages_in_the_fake_slack_reach_the_request_url_as_events_including_our_own(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    with FakeSlack() as fake_slack:
        channel = fake_slack.add_channel("proj-login", bot_is_member=True)["id"]
        relay = slack_events.SlackEventRelay(
            fake_slack, slack_events.SlackEventSender(f"{url}/webhooks/slack", SLACK_SECRET)
        )
        async with SlackClient(fake_slack.bot_token, base_url=fake_slack.url + "/api/") as slack:
            me = await slack.identity()
            root = await slack.post_message(channel, "Fix login", username="ai-backend")
            fake_slack.post_as_user(channel, "I can reproduce it", thread_ts=root.ts)

            deliveries = await relay.deliver_new()
            again = await relay.deliver_new()

    assert [d.delivered for d in deliveries] == [True, True]
    assert again == []
    ours, human = (p.event for p in state.slack_events)
    assert ours.is_authored_by(me.user_id, me.bot_id)
    assert not human.is_authored_by(me.user_id, me.bot_id)
    assert human.is_thread_reply
    assert human.thread_ts == root.ts
    assert human.effective.text == "I can reproduce it"
