"""``/v1/tasks`` on a real Nexus with fake Slack and ClickUp: who may act, context, say, state, breaker."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.agent_tasks import MUTE_SECONDS, TaskWorld


async def test_a_request_without_a_valid_agent_token_is_refused_with_401(world: TaskWorld) -> None:
    await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with httpx.AsyncClient(base_url=world.nexus.url) as anonymous:
        r = await anonymous.get(f"/v1/tasks/{task_id}/context")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = await anonymous.get(
            f"/v1/tasks/{task_id}/context", headers={"Authorization": "Bearer forged.jwt.x"}
        )
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_an_agent_acting_on_a_task_assigned_to_another_agent_gets_403(world: TaskWorld) -> None:
    await world.register_agent("backend-bot")
    intruder = await world.register_agent("frontend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await intruder.client() as client:
        assert (await client.get(f"/v1/tasks/{task_id}/context")).status_code == 403
        r = await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "mine now"})
        assert r.status_code == 403
        assert (await client.patch(f"/v1/tasks/{task_id}", json={"state": "DONE"})).status_code == 403
    assert len(world.thread(task_id)) == 1, "nothing may be posted by an agent the task is not assigned to"
    assert world.state(task_id) == "TODO"


async def test_an_unknown_task_is_404(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot")
    async with await agent.client() as client:
        r = await client.get("/v1/tasks/nosuchtask/context")
        assert r.status_code == 404
        assert "nosuchtask" in r.json()["detail"]
        assert (await client.patch("/v1/tasks/nosuchtask", json={"state": "DONE"})).status_code == 404


async def test_context_has_the_task_fresh_from_clickup_and_the_whole_thread_over_several_pages(
    world: TaskWorld,
) -> None:
    agent = await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", "Old description", agents=["backend-bot"])
    world.clickup.tasks[task_id]["text_content"] = "Users are logged out after 5 minutes."
    root_ts = world.thread(task_id)[0]["ts"]
    for n in range(450):  # the Slack client reads 200 a page: three pages
        world.slack.post_as_user(world.channel, f"reply {n}", thread_ts=root_ts)
    async with await agent.client() as client:
        r = await client.get(f"/v1/tasks/{task_id}/context")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"]["id"] == task_id
    assert body["task"]["description"] == "Users are logged out after 5 minutes."
    assert body["task"]["status"] == "to do"
    assert body["state"] == "TODO"
    assert body["project"] == world.project
    texts = [m["text"] for m in body["thread"]]
    assert texts == ["Fix login"] + [f"reply {n}" for n in range(450)]
    assert len(world.slack.calls_to("conversations.replies")) >= 3


async def test_say_posts_in_the_thread_under_the_agents_name_and_as_one_clickup_comment(
    world: TaskWorld,
) -> None:
    agent = await world.register_agent("backend-bot", displayName="Backend Bot", iconEmoji=":robot_face:")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await agent.client() as client:
        r = await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "Looking into it."})
    assert r.status_code == 201, r.text
    reply = world.thread(task_id)[-1]
    assert reply["text"] == "Looking into it."
    assert reply["username"] == "Backend Bot"
    assert reply["icons"] == {"icon_emoji": ":robot_face:"}
    assert r.json()["ts"] == reply["ts"]
    comments = world.clickup.comments_newest_first(task_id)
    assert len(comments) == 1
    assert "Looking into it." in comments[0]["comment_text"]
    assert str(r.json()["clickupCommentId"]) == str(comments[0]["id"])


async def test_a_retried_message_with_the_same_idempotency_key_is_posted_once_and_answered_alike(
    world: TaskWorld,
) -> None:
    agent = await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    headers = {"Idempotency-Key": "say-0001"}
    async with await agent.client() as client:
        answers = [
            await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "Plan: ..."}, headers=headers)
            for _ in range(3)
        ]
        reused = await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "other"}, headers=headers)
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert answers[1].json() == answers[0].json() == answers[2].json()
    assert [m["text"] for m in world.thread(task_id)].count("Plan: ...") == 1
    assert len(world.clickup.comments_newest_first(task_id)) == 1
    assert reused.status_code == 422


async def test_concurrent_retries_with_one_key_post_once(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await agent.client() as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/v1/tasks/{task_id}/messages", json={"text": "once"}, headers={"Idempotency-Key": "k"}
                )
                for _ in range(5)
            )
        )
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(a.headers.get("Retry-After") for a in answers if a.status_code == 409)
    assert [m["text"] for m in world.thread(task_id)].count("once") == 1


async def test_an_illegal_transition_is_409_naming_the_allowed_states(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"], state="DONE")
    async with await agent.client() as client:
        r = await client.patch(f"/v1/tasks/{task_id}", json={"state": "IN_PROGRESS"})
        assert r.status_code == 409
        assert r.json()["detail"]["allowed"] == []
        assert r.json()["detail"]["state"] == "DONE"
        task2 = world.track_task("Another", agents=["backend-bot"], state="IN_PROGRESS")
        r = await client.patch(f"/v1/tasks/{task2}", json={"state": "TODO"})
        assert r.status_code == 409
        assert r.json()["detail"]["allowed"] == ["BLOCKED_ON_HUMAN", "DONE"]
        assert (await client.patch(f"/v1/tasks/{task2}", json={"state": "SLEEPING"})).status_code == 422
    assert world.clickup.calls_to("PUT", "/api/v2/task") == []


async def test_legal_transitions_are_pushed_to_clickup_as_the_mapped_status(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot")
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    seen = []
    async with await agent.client() as client:
        for state in ("IN_PROGRESS", "BLOCKED_ON_HUMAN", "IN_PROGRESS", "DONE"):
            r = await client.patch(f"/v1/tasks/{task_id}", json={"state": state})
            assert r.status_code == 200, r.text
            assert r.json()["changed"] is True
            seen.append((r.json()["state"], world.clickup.tasks[task_id]["status"]["status"]))
        again = await client.patch(f"/v1/tasks/{task_id}", json={"state": "DONE"})
    assert seen == [
        ("IN_PROGRESS", "in progress"),
        ("BLOCKED_ON_HUMAN", "review"),
        ("IN_PROGRESS", "in progress"),
        ("DONE", "complete"),
    ]
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert world.state(task_id) == "DONE"


async def test_a_status_clickup_refuses_leaves_the_state_unchanged(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot")
    async with world.admin() as admin:
        r = await admin.put(
            f"/internal/v1/workgroups/{world.workgroup}/projects/{world.project}",
            json={
                "clickupListId": world.list_id,
                "slackChannelId": world.channel,
                "statusMap": {"DONE": "shipped"},
            },
        )
        assert r.status_code == 200, r.text
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await agent.client() as client:
        r = await client.patch(f"/v1/tasks/{task_id}", json={"state": "DONE"})
        assert r.status_code == 502
        assert "shipped" in r.json()["detail"]
        ok = await client.patch(
            f"/v1/tasks/{task_id}", json={"state": "IN_PROGRESS"}
        )  # unmapped: ClickUp untouched
    assert world.state(task_id) == "IN_PROGRESS"
    assert ok.json()["clickupStatus"] is None
    assert world.clickup.tasks[task_id]["status"]["status"] == "to do"


async def test_the_breaker_answers_429_posts_one_notice_and_lets_the_agent_speak_after_the_cool_down(
    world: TaskWorld,
) -> None:
    agent = await world.register_agent("backend-bot", rateLimitPerMinute=3)
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await agent.client() as client:
        answers = [
            await client.post(f"/v1/tasks/{task_id}/messages", json={"text": f"message {n}"})
            for n in range(6)
        ]
        assert [a.status_code for a in answers] == [201, 201, 201, 429, 429, 429]
        assert all(1 <= int(a.headers["Retry-After"]) <= MUTE_SECONDS + 1 for a in answers[3:])
        thread = [m["text"] for m in world.thread(task_id)]
        assert thread[1:4] == ["message 0", "message 1", "message 2"]
        notices = [text for text in thread if "is muted" in text]
        assert len(notices) == 1
        assert "more than 3 messages in a minute" in notices[0]
        assert len(world.clickup.comments_newest_first(task_id)) == 3
        deadline = time.monotonic() + 10
        while (
            r := await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "back"})
        ).status_code == 429:
            assert time.monotonic() < deadline, "the agent stayed muted past its cool-down"
            await asyncio.sleep(0.1)
        assert r.status_code == 201
    assert len([m for m in world.thread(task_id) if "is muted" in m["text"]]) == 1


async def test_a_muted_retry_with_an_idempotency_key_can_post_after_the_cool_down(world: TaskWorld) -> None:
    agent = await world.register_agent("backend-bot", rateLimitPerMinute=1)
    task_id = world.track_task("Fix login", agents=["backend-bot"])
    async with await agent.client() as client:
        assert (await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "one"})).status_code == 201
        key = {"Idempotency-Key": "retry-me"}
        assert (
            await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "two"}, headers=key)
        ).status_code == 429
        deadline = time.monotonic() + 10
        while (
            r := await client.post(f"/v1/tasks/{task_id}/messages", json={"text": "two"}, headers=key)
        ).status_code == 429:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    assert r.status_code == 201
    assert [m["text"] for m in world.thread(task_id)].count("two") == 1
