"""The Memory Bank fed by the task flow: Slack messages of mapped channels and ClickUp texts become
searchable by the project's agents (real worker, embedded engine, local embedding model)."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from oblivion_nexus.services.memory.summaries import SUMMARY_EVERY
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.fakes.openai_embeddings import DEFAULT_MODEL, FakeOpenAIEmbeddings
from tests.fakes.slack_events import (
    SlackEventRelay,
    SlackEventSender,
    message_changed_event,
    message_deleted_event,
    message_event,
)
from tests.secret_logs import SecretRegistry
from tests.support.memory import build_memory_world, found_texts, search
from tests.support.registry import RegisteredAgent
from tests.support.taskflow import LIST_ID, FlowStack, add_clickup_webhook
from tests.support.waiting import eventually


async def test_messages_of_a_mapped_channel_are_searchable_by_its_projects_agents_only(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    async with running_worker(stack.settings):
        root = await world.say(stack.channel_id, "The login page times out after the deploy")
        await world.say(
            stack.channel_id, "Raising the session cookie lifetime to 12 hours fixed it", thread_ts=root
        )
        await world.say(world.billing_channel, "Invoices are generated on the first of the month")
        await world.say(world.unmapped_channel, "Lunch is at noon on Fridays")

        async def auth_finds_both() -> bool:
            texts = await found_texts(world.auth_agent, "how long does the session cookie last?")
            return any("cookie lifetime" in t for t in texts) and any("login page" in t for t in texts)

        await eventually(auth_finds_both, what="the message and its reply searchable")
        assert not [
            t for t in await found_texts(world.billing_agent, "session cookie lifetime") if "cookie" in t
        ]
        assert await found_texts(world.frontend_agent, "session cookie lifetime") == []
        await eventually(
            lambda: _contains(world.billing_agent, "when are invoices generated?", "Invoices"),
            what="the billing message searchable by billing's agent",
        )
        assert not [t for t in await found_texts(world.auth_agent, "when is lunch?") if "Lunch" in t]
        answer = await search(world.auth_agent, "session cookie lifetime")
    [hit] = [h for h in answer.json()["hits"] if "cookie lifetime" in h["text"]]
    assert (hit["kind"], hit["source"], hit["project"], hit["threadTs"]) == ("message", "slack", "auth", root)
    assert hit["author"]
    assert hit["link"].startswith("https://slack.com/archives/")


async def _contains(agent: RegisteredAgent, query: str, needle: str) -> bool:
    return any(needle in t for t in await found_texts(agent, query))


async def test_an_edit_overwrites_a_message_a_deletion_removes_it_and_redelivery_never_duplicates(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    async with running_worker(stack.settings):
        ts = await world.say(stack.channel_id, "The staging database password rotates every Monday")
        await eventually(
            lambda: _contains(world.auth_agent, "database password rotation", "every Monday"),
            what="the message searchable",
        )
        await world.send(
            message_changed_event(stack.channel_id, ts, "The staging database password rotates every Friday")
        )
        await eventually(
            lambda: _contains(world.auth_agent, "database password rotation", "every Friday"),
            what="the edit searchable",
        )
        texts = await found_texts(world.auth_agent, "database password rotation")
        assert not [t for t in texts if "every Monday" in t]
        # The original again (Slack retries, a replayed event): the edit stays, nothing is duplicated.
        await world.send(
            message_event(stack.channel_id, "The staging database password rotates every Monday", ts=ts)
        )
        again = await world.say(stack.channel_id, "Backups run nightly at 2am")
        await world.send(message_event(stack.channel_id, "Backups run nightly at 2am", ts=again))
        await eventually(
            lambda: _contains(world.auth_agent, "when do backups run?", "Backups"), what="the backup note"
        )
        texts = await found_texts(world.auth_agent, "database password rotation", limit=20)
        assert [t for t in texts if "rotates" in t] == ["The staging database password rotates every Friday"]
        assert [t for t in texts if "Backups" in t] == ["Backups run nightly at 2am"]

        await world.send(message_deleted_event(stack.channel_id, ts))

        async def gone() -> bool:
            return not [t for t in await found_texts(world.auth_agent, "database password") if "rotates" in t]

        await eventually(gone, what="the deleted message gone")


async def test_clickup_descriptions_and_comments_are_remembered_with_their_task(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        task, _ = await stack.clickup.create_task(
            list_id=LIST_ID, name="Rate limiter", description="Requests over 100 per minute get a 429"
        )
        await stack.clickup.post_comment(
            task["id"], "We should exempt the health checks from the limit", author=shapes.user(321, "Jane")
        )
        await eventually(
            lambda: _contains(world.auth_agent, "are health checks limited?", "health checks"),
            what="the comment searchable",
        )
        await stack.clickup.change_description(task["id"], "Requests over 500 per minute get a 429")

        async def edited() -> bool:
            texts = await found_texts(world.auth_agent, "what is the rate limit?", taskId=task["id"])
            return any("500 per minute" in t for t in texts) and not any("100 per minute" in t for t in texts)

        await eventually(edited, what="the edited description searchable, the old one gone")
        hits = (await search(world.auth_agent, "rate limit", taskId=task["id"], kinds=["comment"])).json()
        assert await found_texts(world.billing_agent, "rate limit health checks") == []
    [comment] = hits["hits"]
    assert (comment["kind"], comment["source"], comment["author"]) == ("comment", "clickup", "Jane")
    assert comment["taskId"] == task["id"]
    assert comment["link"].startswith("https://app.clickup.com/t/")


async def test_a_message_with_nothing_to_read_is_skipped_with_its_reason(
    stack: FlowStack, secret_registry: SecretRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    world = await build_memory_world(stack, secret_registry)
    caplog.set_level(logging.INFO, logger="oblivion_nexus")
    async with running_worker(stack.settings):
        event = message_event(stack.channel_id, "", subtype="file_share")
        event["files"] = [{"id": "F1", "name": "screenshot.png"}]
        await world.send(event)
        await eventually(
            lambda: _logged(caplog, "only a file share"), what="the file share skipped with its reason"
        )
        await world.say(stack.channel_id, "x" * 100_001)
        await eventually(lambda: _logged(caplog, "longer than 100000"), what="the oversized text skipped")


async def _logged(caplog: pytest.LogCaptureFixture, needle: str) -> bool:
    return any(needle in r.getMessage() for r in caplog.records)


async def test_while_the_embedder_is_down_nothing_is_lost_and_search_answers_503(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    with FakeOpenAIEmbeddings(dimensions={DEFAULT_MODEL: 64}) as embeddings:
        memory = stack.settings.memory.model_copy(
            update={
                "embedding_url": embeddings.base_url,
                "embedding_key": SecretStr(embeddings.key),
                "embedding_model": DEFAULT_MODEL,
                "embedding_dimension": 64,
            }
        )
        settings = stack.settings.model_copy(update={"memory": memory})
        async with running_worker(settings):
            embeddings.fail(1_000_000)
            sent = [f"Outage note number {n}: the queue kept it" for n in range(30)]
            for text in sent:
                await world.say(stack.channel_id, text)
            down = await search(world.auth_agent, "outage note")
            assert down.status_code == 503, down.text
            assert int(down.headers["Retry-After"]) >= 1

            async def error_recorded() -> bool:
                status = await stack.http.get(
                    f"{stack.nexus.url}/internal/v1/workgroups/backend/memory",
                    headers=stack.nexus.admin_headers(),
                )
                return "EmbeddingError" in str(status.json()["lastErrors"].get("tenant_backend"))

            await eventually(error_recorded, what="the failed batch's error in the workgroup's status")
            embeddings.fail(0)

            async def all_searchable() -> bool:
                texts = await found_texts(world.auth_agent, "outage note", limit=50)
                return sorted(texts) == sorted(sent)

            await eventually(all_searchable, timeout=60, what="all 30 messages searchable after the outage")
            [best] = (await search(world.auth_agent, sent[7], limit=1)).json()["hits"]
            assert best["text"] == sent[7]


async def test_every_fifty_replies_a_thread_gets_one_extractive_summary_point(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings):
        root = stack.slack.post_as_user(
            stack.channel_id, "The nightly export to the warehouse keeps failing."
        )
        for n in range(SUMMARY_EVERY):
            text = (
                "The warehouse export fails on the orders table timeout."
                if n % 10 == 0
                else f"Reply {n}: still looking at it."
            )
            stack.slack.post_as_user(stack.channel_id, text, thread_ts=root["ts"])
        await relay.deliver_new()

        async def summarised() -> list[dict[str, object]]:
            answer = await search(world.auth_agent, "why does the warehouse export fail?", kinds=["summary"])
            return list(answer.json()["hits"])

        [summary] = await eventually(summarised, timeout=30, what="the thread's summary point")
    assert summary["author"] == "Oblivion (extractive summary)"
    assert summary["threadTs"] == root["ts"]
    text = str(summary["text"])
    assert text.startswith(f"Extractive summary of a thread of {SUMMARY_EVERY + 1} messages")
    assert "orders table timeout" in text


async def test_a_collection_made_for_another_embedder_is_named_when_the_worker_starts(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "Made with the local model")
        await eventually(
            lambda: _contains(world.auth_agent, "local model", "local model"), what="the collection made"
        )
    with FakeOpenAIEmbeddings(dimensions={DEFAULT_MODEL: 64}) as embeddings:
        memory = stack.settings.memory.model_copy(
            update={
                "embedding_url": embeddings.base_url,
                "embedding_key": SecretStr(embeddings.key),
                "embedding_model": DEFAULT_MODEL,
                "embedding_dimension": 64,
            }
        )
        async with running_worker(stack.settings.model_copy(update={"memory": memory})):

            async def named() -> str:
                status = await stack.http.get(
                    f"{stack.nexus.url}/internal/v1/workgroups/backend/memory",
                    headers=stack.nexus.admin_headers(),
                )
                return str(status.json()["lastErrors"].get("tenant_backend", {}).get("error", ""))

            error = await eventually(named, what="the mismatch in the workgroup's status")
    assert "VectorDimensionMismatch: collection tenant_backend holds 384-dimensional vectors" in error
    assert "64-dimensional" in error
