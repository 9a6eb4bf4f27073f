"""The agent runtime against a fake Nexus: registration, handlers, acks, duplicates, reconnects, stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from oblivion_agent import (
    Agent,
    AgentDisabledError,
    AgentError,
    AgentSettings,
    Context,
    ContextUpdate,
    HandlerError,
    TaskAssigned,
)
from tests.fakes.nexus import CLIENT_ID, CLIENT_SECRET, FakeNexus, make_settings
from tests.support.waiting import eventually

TASK = {"task_id": "86a1b2c3", "project": "payments", "title": "Add retries to the webhook sender"}


@asynccontextmanager
async def running(agent: Agent, settings: AgentSettings) -> AsyncIterator[asyncio.Task[None]]:
    """Run the agent in the background; stop it (and surface its errors) when the block ends."""
    task = asyncio.create_task(agent.serve(settings))
    try:
        yield task
    finally:
        agent.stop()
        await asyncio.wait_for(asyncio.shield(task), 10)


def recording_agent(calls: list[tuple[str, Any]], fail_first: int = 0) -> Agent:
    agent = Agent("recorder")
    failures = {"left": fail_first}

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        calls.append((ctx.event_id, event))
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("the model provider timed out")

    return agent


async def test_agent_registers_first_then_handles_a_task_and_acks_it(fake_nexus: FakeNexus) -> None:
    calls: list[tuple[str, Any]] = []
    agent = recording_agent(calls)
    async with running(agent, make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: not fake_nexus.inbox, what="the event to be acked")

    assert [c[0] for c in calls] == [event_id]
    assert calls[0][1].title == TASK["title"]
    first = fake_nexus.sessions[0].received[0]
    assert first["type"] == "REGISTER"
    assert first["data"]["capabilities"] == ["TASK_ASSIGNED"]
    assert first["data"]["runtime_version"].startswith("oblivion-agent/")
    assert fake_nexus.sessions[0].token == fake_nexus.issued[0]
    assert fake_nexus.acked_ids() == [event_id]


async def test_events_queued_while_disconnected_arrive_in_order_after_connecting(
    fake_nexus: FakeNexus,
) -> None:
    calls: list[tuple[str, Any]] = []
    ids = [await fake_nexus.queue("TASK_ASSIGNED", {**TASK, "task_id": f"t{n}"}) for n in range(5)]
    async with running(recording_agent(calls), make_settings(fake_nexus, max_concurrent_handlers=1)):
        await eventually(lambda: not fake_nexus.inbox, what="every event to be acked")
    assert [c[0] for c in calls] == ids


async def test_a_failing_handler_leaves_its_event_unacked_and_gets_it_again(
    fake_nexus: FakeNexus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[str, Any]] = []
    async with running(recording_agent(calls, fail_first=1), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: not fake_nexus.inbox, what="the redelivered event to be acked")
    assert [c[0] for c in calls] == [event_id, event_id]
    assert fake_nexus.acked_ids() == [event_id]  # acked once, after the attempt that succeeded
    # Nexus gives unacked events to the next connection: the agent reconnected to get it back.
    assert len(fake_nexus.sessions) == 2
    assert fake_nexus.sessions[0].close_code == 1000
    assert "not acked, Nexus will deliver it again" in caplog.text
    assert "RuntimeError" in caplog.text


async def test_a_handler_failing_every_time_is_retried_less_and_less_often(fake_nexus: FakeNexus) -> None:
    calls: list[tuple[str, Any]] = []
    agent = recording_agent(calls, fail_first=1_000)
    settings = make_settings(fake_nexus, backoff_base_seconds=0.01, backoff_cap_seconds=0.08)
    async with running(agent, settings):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: len(calls) >= 6, what="several attempts")
        assert agent._link is not None
        assert agent._link.redelivery_backoff.attempt >= 5  # the window grew to the cap
    assert fake_nexus.acked_ids() == []


async def test_a_duplicate_event_is_acked_again_but_handled_once(fake_nexus: FakeNexus) -> None:
    calls: list[tuple[str, Any]] = []
    async with running(recording_agent(calls), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: fake_nexus.acked_ids() == [event_id], what="the first ack")
        # Nexus lost the ack (say, a replica died): the same event comes again.
        await fake_nexus.queue("TASK_ASSIGNED", TASK, frame_id=event_id)
        await eventually(lambda: fake_nexus.acked_ids() == [event_id, event_id], what="the second ack")
    assert len(calls) == 1


async def test_an_event_redelivered_while_its_handler_still_runs_is_not_started_twice(
    fake_nexus: FakeNexus,
) -> None:
    agent = Agent("slow")
    release = asyncio.Event()
    starts: list[str] = []

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        starts.append(ctx.event_id)
        await release.wait()

    async with running(agent, make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: starts == [event_id], what="the handler to start")
        await fake_nexus.drop_connection(1001)
        await eventually(lambda: len(fake_nexus.sessions) == 2, what="a reconnect")
        await eventually(lambda: len(fake_nexus.sessions[1].received) >= 1, what="the second REGISTER")
        release.set()
        await eventually(lambda: not fake_nexus.inbox, what="the ack")
    assert starts == [event_id]


async def test_handlers_run_concurrently_but_never_more_than_the_bound(fake_nexus: FakeNexus) -> None:
    agent = Agent("parallel")
    running_now = 0
    peak = 0
    release = asyncio.Event()

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await release.wait()
        running_now -= 1

    async with running(agent, make_settings(fake_nexus, max_concurrent_handlers=3)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        for n in range(8):
            await fake_nexus.queue("TASK_ASSIGNED", {**TASK, "task_id": f"t{n}"})
        await eventually(lambda: running_now == 3, what="three handlers to run")
        release.set()
        await eventually(lambda: not fake_nexus.inbox, what="all events to be acked")
    assert peak == 3
    assert agent.handled == 8


async def test_an_event_type_without_a_handler_is_acked_so_it_does_not_pile_up(fake_nexus: FakeNexus) -> None:
    async with running(recording_agent([]), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        event_id = await fake_nexus.queue("WAKE_UP", {"reason": "mentioned", "text": "@ai-backend ping"})
        await eventually(lambda: fake_nexus.acked_ids() == [event_id], what="the ack")


async def test_a_rejected_token_is_replaced_before_reconnecting(fake_nexus: FakeNexus) -> None:
    async with running(recording_agent([]), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        fake_nexus.revoked.add(fake_nexus.issued[0])
        await fake_nexus.drop_connection(4401, "token expired")
        await eventually(lambda: len(fake_nexus.sessions) == 2, what="a reconnect")
    assert len(fake_nexus.issued) == 2
    assert fake_nexus.sessions[1].token == fake_nexus.issued[1]
    assert fake_nexus.rejected_connections == 0  # the revoked token was never presented again


async def test_a_disabled_agent_stops_with_a_clear_error_instead_of_retrying(fake_nexus: FakeNexus) -> None:
    fake_nexus.disabled = True
    agent = recording_agent([])
    with pytest.raises(AgentDisabledError, match="disabled or not registered"):
        await asyncio.wait_for(agent.serve(make_settings(fake_nexus)), 10)
    assert len(fake_nexus.token_requests) == 1


async def test_a_silent_nexus_is_treated_as_dead_and_the_agent_reconnects(fake_nexus: FakeNexus) -> None:
    fake_nexus.silent = True
    settings = make_settings(fake_nexus, heartbeat_seconds=0.2)
    async with running(recording_agent([]), settings):
        await eventually(lambda: len(fake_nexus.sessions) >= 2, what="a reconnect after silence")
        fake_nexus.silent = False
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: event_id not in fake_nexus.inbox, what="the event over the new connection")
    assert fake_nexus.sessions[0].close_code == 1001


async def test_a_talking_nexus_is_kept_and_its_heartbeats_are_answered(fake_nexus: FakeNexus) -> None:
    fake_nexus.heartbeat_seconds = 0.1
    async with running(recording_agent([]), make_settings(fake_nexus, heartbeat_seconds=0.3)):
        await eventually(
            lambda: len(fake_nexus.frames_of("HEARTBEAT")) >= 5, what="heartbeats from the agent"
        )
        assert len(fake_nexus.sessions) == 1  # ten intervals of traffic: never mistaken for silence
    # Answers are rate-limited to two per interval, so two peers that both answer cannot ping-pong.
    assert len(fake_nexus.frames_of("HEARTBEAT")) < 20


async def test_the_agent_sends_heartbeats_on_its_own_when_nexus_does_not_ask(fake_nexus: FakeNexus) -> None:
    assert fake_nexus.heartbeat_seconds is None  # this Nexus never sends a heartbeat to answer
    async with running(recording_agent([]), make_settings(fake_nexus, heartbeat_seconds=0.1)):
        await eventually(
            lambda: any(f["type"] == "HEARTBEAT" for s in fake_nexus.sessions for f in s.received),
            what="an unprompted heartbeat",
        )
    assert fake_nexus.sessions[0].received[0]["type"] == "REGISTER"


async def test_a_lost_connection_is_retried_and_unacked_events_come_back(fake_nexus: FakeNexus) -> None:
    calls: list[tuple[str, Any]] = []
    async with running(recording_agent(calls), make_settings(fake_nexus)) as task:
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        await fake_nexus.stop()  # Nexus goes away entirely
        await eventually(lambda: fake_nexus.live_session is None, what="the disconnect")
        port = int(fake_nexus.url.rsplit(":", 1)[1])
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await restart_on_port(fake_nexus, port)
        await eventually(lambda: not fake_nexus.inbox, what="the event after Nexus came back")
        assert not task.done()
    assert [c[0] for c in calls] == [event_id]


async def restart_on_port(nexus: FakeNexus, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/oauth/token", nexus._token)
    app.router.add_get("/v1/agents/connect", nexus._connect)
    nexus._runner = web.AppRunner(app, handle_signals=False)
    await nexus._runner.setup()
    await web.TCPSite(nexus._runner, "127.0.0.1", port).start()


async def test_stop_lets_a_running_handler_finish_acks_it_and_closes_normally(fake_nexus: FakeNexus) -> None:
    agent = Agent("graceful")
    started = asyncio.Event()
    release = asyncio.Event()

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        started.set()
        await release.wait()

    task = asyncio.create_task(agent.serve(make_settings(fake_nexus)))
    await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
    event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
    await asyncio.wait_for(started.wait(), 5)
    agent.stop()
    # Stopped from reading: an event queued now is not started.
    late_id = await fake_nexus.queue("TASK_ASSIGNED", {**TASK, "task_id": "late"})
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 10)
    assert fake_nexus.acked_ids() == [event_id]
    assert late_id in fake_nexus.inbox
    assert fake_nexus.sessions[0].close_code == 1000


async def test_a_handler_outliving_the_grace_period_is_cancelled_and_its_event_stays_unacked(
    fake_nexus: FakeNexus,
) -> None:
    agent = Agent("stuck")
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(agent.serve(make_settings(fake_nexus, shutdown_grace_seconds=0.2)))
    await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
    await fake_nexus.queue("TASK_ASSIGNED", TASK)
    await asyncio.wait_for(started.wait(), 5)
    agent.stop()
    await asyncio.wait_for(task, 10)
    assert cancelled.is_set()
    assert fake_nexus.acked_ids() == []
    assert fake_nexus.sessions[0].close_code == 1000


async def test_a_frame_that_breaks_the_protocol_is_ignored_and_the_connection_kept(
    fake_nexus: FakeNexus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[str, Any]] = []
    async with running(recording_agent(calls), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        await fake_nexus.send_raw('{"type": "TASK_ASSIGNED", "id": "x1", "data": {"title": "no task id"}}')
        await fake_nexus.send_raw("not json at all")
        await fake_nexus.send_raw('{"type": "ERROR", "data": {"code": "malformed_frame", "message": "bad"}}')
        event_id = await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: fake_nexus.acked_ids() == [event_id], what="the good event's ack")
    assert [c[0] for c in calls] == [event_id]
    assert len(fake_nexus.sessions) == 1
    assert "does not match the protocol" in caplog.text
    assert "malformed_frame" in caplog.text


async def test_handlers_of_each_type_receive_their_own_data(fake_nexus: FakeNexus) -> None:
    agent = Agent("multi", capabilities=["code-review"])
    got: list[object] = []

    @agent.on_context_update
    async def on_update(event: ContextUpdate, ctx: Context) -> None:
        got.append(event)

    async with running(agent, make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        await fake_nexus.queue("CONTEXT_UPDATE", {"task_id": "t1", "kind": "slack_reply", "text": "LGTM"})
        await eventually(lambda: len(got) == 1, what="the update")
    assert isinstance(got[0], ContextUpdate)
    assert got[0].text == "LGTM"
    assert fake_nexus.sessions[0].received[0]["data"]["capabilities"] == ["code-review"]


def test_a_handler_that_is_not_a_coroutine_function_is_refused() -> None:
    agent = Agent("sync")
    with pytest.raises(HandlerError, match="async def"):
        agent.on_task(lambda event, ctx: None)  # type: ignore[arg-type,return-value]


def test_a_second_handler_for_the_same_event_type_is_refused() -> None:
    agent = Agent("twice")

    @agent.on_task
    async def first(event: TaskAssigned, ctx: Context) -> None: ...

    with pytest.raises(HandlerError, match="already has a TASK_ASSIGNED handler"):

        @agent.on_task
        async def second(event: TaskAssigned, ctx: Context) -> None: ...


async def test_no_log_line_carries_the_client_secret_or_a_token(
    fake_nexus: FakeNexus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    calls: list[tuple[str, Any]] = []
    async with running(recording_agent(calls, fail_first=1), make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        await fake_nexus.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: not fake_nexus.inbox, what="the redelivered event's ack")
        fake_nexus.revoked.add(fake_nexus.issued[0])
        await fake_nexus.drop_connection(4401)
        await eventually(
            lambda: (
                fake_nexus.live_session is not None and fake_nexus.live_session.token != fake_nexus.issued[0]
            ),
            what="a connection with a new token",
        )
    assert len(calls) == 2
    assert len(fake_nexus.issued) == 2
    secrets: list[Callable[[str], bool]] = [lambda t: CLIENT_SECRET in t]
    secrets += [lambda t, tok=tok: tok in t for tok in fake_nexus.issued]
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert not any(found(text) for found in secrets), record.getMessage()


async def test_stop_is_prompt_even_while_nexus_hangs_on_the_token_request() -> None:
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()
        await reader.read()  # never answers; returns when the client hangs up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = FakeNexus(CLIENT_ID, CLIENT_SECRET)
    hung.url = f"http://127.0.0.1:{port}"
    agent = recording_agent([])
    async with server:
        task = asyncio.create_task(agent.serve(make_settings(hung)))
        await asyncio.wait_for(accepted.wait(), 5)
        agent.stop()
        await asyncio.wait_for(task, 2)  # not the 10 s HTTP timeout
        await eventually(lambda: all(w.is_closing() for w in writers), what="the client to hang up")


async def test_a_flapping_nexus_widens_the_backoff_and_a_stable_connection_resets_it(
    fake_nexus: FakeNexus,
) -> None:
    agent = recording_agent([])
    # Every connection is dropped at once: the window must keep growing.
    fake_nexus.drop_after_register = True
    async with running(agent, make_settings(fake_nexus, backoff_reset_after_seconds=60)):
        await eventually(lambda: len(fake_nexus.sessions) >= 4, what="several short connections")
        assert agent._link is not None
        assert agent._link.backoff.attempt >= 3

    fake_nexus.sessions.clear()
    agent = recording_agent([])
    async with running(agent, make_settings(fake_nexus, backoff_reset_after_seconds=0)):
        await eventually(lambda: len(fake_nexus.sessions) >= 4, what="several connections")
        assert agent._link is not None
        # Each connection counted as stable (threshold 0), so every retry starts from the base window.
        assert agent._link.backoff.attempt == 1


async def test_serving_one_agent_twice_at_once_is_refused(fake_nexus: FakeNexus) -> None:
    agent = recording_agent([])
    async with running(agent, make_settings(fake_nexus)):
        await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
        with pytest.raises(AgentError, match="already running"):
            await agent.serve(make_settings(fake_nexus))
    assert len(fake_nexus.sessions) == 1


async def test_a_second_stop_cancels_running_handlers_without_waiting_for_the_grace_period(
    fake_nexus: FakeNexus, caplog: pytest.LogCaptureFixture
) -> None:
    agent = Agent("impatient")
    started = asyncio.Event()

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(agent.serve(make_settings(fake_nexus, shutdown_grace_seconds=60)))
    await eventually(lambda: fake_nexus.live_session is not None, what="a connection")
    await fake_nexus.queue("TASK_ASSIGNED", TASK)
    await asyncio.wait_for(started.wait(), 5)
    agent.stop()
    await eventually(lambda: "waiting up to 60 s" in caplog.text, what="the graceful wait to begin")
    agent.stop()
    await asyncio.wait_for(task, 5)  # not the 60 s grace period
    assert fake_nexus.acked_ids() == []
    assert fake_nexus.sessions[0].close_code == 1000
