"""The ClickUp client against the fake ClickUp server: every call the task flow makes, and its failures."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from oblivion_nexus.integrations.clickup import (
    ClickUpApiError,
    ClickUpAuthError,
    ClickUpClient,
    ClickUpRateLimited,
    ClickUpUnavailable,
)
from tests.fakes.clickup import FakeClickUp


async def test_get_task_returns_the_task_with_string_ids(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    created = fake_clickup.add_task(list_id="900100", name="Fix login", description="@ai-backend please look")

    task = await clickup.get_task(created["id"])

    assert task.name == "Fix login"
    assert task.plain_description == "@ai-backend please look"
    assert task.home_list is not None
    assert task.home_list.id == "900100"
    assert task.creator is not None
    assert task.creator.id == "183"
    assert task.status is not None
    assert task.status.status == "to do"


async def test_missing_task_is_an_api_error_with_clickups_code(clickup: ClickUpClient) -> None:
    with pytest.raises(ClickUpApiError) as caught:
        await clickup.get_task("nope")

    assert caught.value.status == 404
    assert caught.value.ecode == "ITEM_013"


async def test_invalid_token_is_an_auth_error_that_never_shows_the_token(
    fake_clickup: FakeClickUp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_token = "pk_999_WRONGTOKENVALUE"
    async with ClickUpClient(secret_token, base_url=fake_clickup.url) as client:
        with pytest.raises(ClickUpAuthError) as caught:
            await client.get_task("abc")

    assert caught.value.status == 401
    assert caught.value.ecode == "OAUTH_025"
    assert secret_token not in str(caught.value) + repr(caught.value) + repr(client)
    assert secret_token not in caplog.text


async def test_rate_limit_reports_seconds_until_the_reset_header(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    fake_clickup.add_task(list_id="1", name="t", task_id="t1")
    fake_clickup.rate_limit(1, reset_after=40)

    with pytest.raises(ClickUpRateLimited) as caught:
        await clickup.get_task("t1")

    assert 30 <= caught.value.retry_after <= 41
    assert (await clickup.get_task("t1")).id == "t1"  # the next call goes through


async def test_unreachable_clickup_is_unavailable() -> None:
    async with ClickUpClient("pk_x", base_url="http://127.0.0.1:9/api/v2/") as client:
        with pytest.raises(ClickUpUnavailable):
            await client.get_task("t1")


async def test_list_tasks_pages_until_the_last_page_and_filters_by_update_time(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    old_ms = int(time.time() * 1000) - 3_600_000
    for n in range(130):
        fake_clickup.add_task(list_id="77", name=f"new {n}")
    for n in range(5):
        fake_clickup.add_task(list_id="77", name=f"old {n}", date_ms=old_ms)
    fake_clickup.add_task(list_id="78", name="other list")

    recent = [t async for t in clickup.iter_list_tasks("77", date_updated_gt=old_ms + 1)]
    everything = [t async for t in clickup.iter_list_tasks("77")]

    assert len(recent) == 130
    assert all(t.name.startswith("new") for t in recent)
    assert len(everything) == 135
    pages = fake_clickup.calls_to("GET", "/list/77/task")
    assert [c.query["page"] for c in pages] == ["0", "1", "0", "1"]


async def test_comments_are_read_newest_first_across_pages(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    task = fake_clickup.add_task(list_id="1", name="t")
    for n in range(60):
        fake_clickup.add_comment(task["id"], f"comment {n}")

    first_page = await clickup.get_task_comments(task["id"])
    every = [c async for c in clickup.iter_task_comments(task["id"])]

    assert len(first_page) == 25
    assert [c.plain_text for c in every] == [f"comment {n}" for n in reversed(range(60))]
    assert len({c.id for c in every}) == 60


async def test_created_comment_is_readable_back(fake_clickup: FakeClickUp, clickup: ClickUpClient) -> None:
    task = fake_clickup.add_task(list_id="1", name="t")

    created = await clickup.create_task_comment(task["id"], "Jane (Slack): looks good", notify_all=False)

    call = fake_clickup.calls_to("POST", f"/task/{task['id']}/comment")[0]
    assert call.body == {"comment_text": "Jane (Slack): looks good", "notify_all": False}
    comments = await clickup.get_task_comments(task["id"])
    assert [(c.id, c.plain_text) for c in comments] == [(created.id, "Jane (Slack): looks good")]


async def test_update_task_status_moves_the_task(fake_clickup: FakeClickUp, clickup: ClickUpClient) -> None:
    task = fake_clickup.add_task(list_id="1", name="t")

    updated = await clickup.update_task(task["id"], status="in progress")

    assert updated.status is not None
    assert updated.status.status == "in progress"
    assert (await clickup.get_task(task["id"])).status.status == "in progress"  # type: ignore[union-attr]


async def test_unknown_status_is_refused_and_the_task_is_unchanged(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    task = fake_clickup.add_task(list_id="1", name="t")

    with pytest.raises(ClickUpApiError) as caught:
        await clickup.update_task(task["id"], status="no such status")

    assert caught.value.status == 400
    assert (await clickup.get_task(task["id"])).status.status == "to do"  # type: ignore[union-attr]


async def test_webhook_lifecycle_reveals_the_secret_only_on_create(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    team = fake_clickup.team_id
    created = await clickup.create_webhook(
        team, "https://nexus.example.com/webhooks/clickup", ["taskCreated", "taskUpdated"], list_id="900100"
    )

    assert created.secret is not None
    assert len(created.secret.get_secret_value()) >= 32
    assert created.secret.get_secret_value() not in repr(created)
    assert created.list_id == "900100"
    assert created.team_id == team
    assert fake_clickup.calls_to("POST", f"/team/{team}/webhook")[0].body["list_id"] == 900100

    listed = await clickup.list_webhooks(team)
    assert [(w.id, w.secret) for w in listed] == [(created.id, None)]

    fake_clickup.set_webhook_health(created.id, status="suspended", fail_count=100)
    assert (await clickup.list_webhooks(team))[0].is_suspended

    reactivated = await clickup.update_webhook(created.id, status="active")
    assert not reactivated.is_suspended
    assert reactivated.health.fail_count == 0

    await clickup.delete_webhook(created.id)
    assert await clickup.list_webhooks(team) == []


async def test_webhook_for_another_team_is_refused(clickup: ClickUpClient) -> None:
    with pytest.raises(ClickUpAuthError) as caught:
        await clickup.create_webhook("1", "https://x.example.com/", ["taskCreated"])

    assert caught.value.ecode == "OAUTH_027"


async def test_every_answer_carries_clickups_rate_limit_headers(fake_clickup: FakeClickUp) -> None:
    fake_clickup.limit_per_minute = 3
    headers = {"Authorization": fake_clickup.token}
    async with httpx.AsyncClient(base_url=fake_clickup.url) as http:
        answers = [await http.get("list/1/task", headers=headers) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(int(a.headers["X-RateLimit-Reset"]) > time.time() - 1 for a in answers)


async def test_missing_token_is_refused_like_clickup(fake_clickup: FakeClickUp) -> None:
    async with httpx.AsyncClient(base_url=fake_clickup.url) as http:
        answer = await http.get("task/abc")

    assert answer.status_code == 401
    assert answer.json() == {"err": "Authorization header required", "ECODE": "OAUTH_017"}
    assert fake_clickup.calls[-1].authorized is False


async def test_bad_control_request_is_a_400_not_a_crash(fake_clickup: FakeClickUp) -> None:
    async with httpx.AsyncClient(base_url=fake_clickup.url.removesuffix("api/v2/")) as http:
        answer = await http.post("_fake/tasks", json={"name": "no list id"})

    assert answer.status_code == 400
    assert "list_id" in answer.json()["error"]


async def test_an_id_with_path_characters_stays_one_path_segment(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    with pytest.raises(ClickUpApiError) as caught:
        await clickup.get_task("../team/9012345/webhook?x=1")

    assert caught.value.status == 404
    assert fake_clickup.calls_to("GET", "/team") == []  # the webhook list was never reached


async def test_authorized_user_is_who_the_token_acts_as(
    fake_clickup: FakeClickUp, clickup: ClickUpClient
) -> None:
    me = await clickup.get_authorized_user()

    assert me.id == str(fake_clickup.api_user["id"])
    assert me.username == fake_clickup.api_user["username"]
