"""ClickUp API responses and webhook deliveries, read from the documented shapes and fuzzed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oblivion_nexus.integrations.clickup_events import (
    ClickUpWebhookEvent,
    parse_clickup_webhook,
    peek_webhook_id,
)
from oblivion_nexus.integrations.clickup_models import (
    Comment,
    CommentPage,
    CreatedComment,
    Task,
    TaskPage,
    Webhook,
    comment_items_text,
    quill_ops_text,
)
from oblivion_nexus.integrations.errors import MalformedPayload

WEBHOOK_ID = "7fa3ec74-69a8-4530-a251-8a13730bd204"


def test_get_task_fixture_gives_the_fields_the_flow_needs(fixture_json: Callable[[str], Any]) -> None:
    task = Task.model_validate(fixture_json("clickup/api/get_task.json"))

    assert (task.id, task.name, task.url) == ("9hx", "Fix login bug", "https://app.clickup.com/t/9hx")
    assert task.plain_description == "Users are unable to log in when SSO is enabled."
    assert task.home_list is not None
    assert task.home_list.id == "15505202"
    assert [a.id for a in task.assignees] == ["2772463"]
    assert [t.name for t in task.tags] == ["bug"]
    assert task.status is not None
    assert task.status.status == "in progress"
    assert task.date_updated == 1567780450202


def test_list_tasks_and_put_task_fixtures_parse(fixture_json: Callable[[str], Any]) -> None:
    page = TaskPage.model_validate(fixture_json("clickup/api/get_list_tasks.json"))
    updated = Task.model_validate(fixture_json("clickup/api/put_task.json"))

    assert [t.id for t in page.tasks] == ["9hx", "9hz"]
    assert page.last_page is False
    assert updated.parent == "abc1234"


def test_comment_fixtures_parse_with_string_ids(fixture_json: Callable[[str], Any]) -> None:
    comments = CommentPage.model_validate(fixture_json("clickup/api/get_task_comments.json")).comments
    created = CreatedComment.model_validate(fixture_json("clickup/api/post_task_comment.json"))

    assert [(c.id, c.plain_text, c.date) for c in comments] == [
        ("458", "Task comment content", 1568036964079)
    ]
    assert comments[0].user is not None
    assert comments[0].user.display_name == "John Doe"
    assert created.id == "458"


def test_numeric_ids_become_strings() -> None:
    created = CreatedComment.model_validate({"id": 458, "hist_id": 26508, "date": 1568036964079})
    hook = Webhook.model_validate({"id": "w1", "endpoint": "https://x", "team_id": 108, "space_id": 790})

    assert (created.id, created.hist_id) == ("458", "26508")
    assert (hook.team_id, hook.space_id) == ("108", "790")


def test_boolean_is_never_taken_for_an_id() -> None:
    with pytest.raises(ValueError, match="id"):
        CreatedComment.model_validate({"id": True})


def test_webhook_secret_is_kept_out_of_repr() -> None:
    hook = Webhook.model_validate({"id": "w1", "endpoint": "https://x", "secret": "s3cr3t-value"})

    assert "s3cr3t-value" not in repr(hook)
    assert hook.secret is not None
    assert hook.secret.get_secret_value() == "s3cr3t-value"


def test_comment_items_become_plain_text(fixture_json: Callable[[str], Any]) -> None:
    with_mention = fixture_json("clickup/api/post_task_comment.request_with_mention.json")["comment"]
    items = [
        {"text": "Ship it ", "attributes": {"bold": True}},
        {"type": "tag", "user": {"id": 183, "username": "John"}},
        {"type": "emoticon", "emoticon": {"code": "1f60a"}},
        {"text": "\n", "attributes": {"block-id": "block-1"}},
    ]

    assert comment_items_text(items) == "Ship it @John😊"
    assert comment_items_text(with_mention) == (
        "I need someone to look at this comment. Maybe @1234567 if you have time to check this out. Thanks!"
    )
    assert Comment.model_validate({"id": 1, "comment_text": " plain \n"}).plain_text == "plain"


def test_quill_description_becomes_plain_text(fixture_json: Callable[[str], Any]) -> None:
    after = fixture_json("clickup/webhooks/taskUpdated_description.json")["history_items"][0]["after"]

    assert quill_ops_text(after) == "This is a task description update to trigger the"
    assert quill_ops_text("not quill, just text") == "not quill, just text"
    assert quill_ops_text('{"ops": "broken"}') == '{"ops": "broken"}'
    assert quill_ops_text(None) == ""


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("taskCreated", f"{WEBHOOK_ID}:2800763136700363640"),
        ("taskStatusUpdated_sent_with_taskCreated", f"{WEBHOOK_ID}:2800763136717140857"),
        ("taskStatusUpdated", f"{WEBHOOK_ID}:2800787326392370170"),
        ("taskUpdated_status", f"{WEBHOOK_ID}:2800787326392370170"),
        ("taskUpdated_description", f"{WEBHOOK_ID}:2800768061568222238"),
        ("taskAssigneeUpdated", f"{WEBHOOK_ID}:2800789353868594308"),
        ("taskCommentPosted", f"{WEBHOOK_ID}:2800803631413624919"),
        ("taskDeleted", f"{WEBHOOK_ID}:taskDeleted:1vj37mc"),
    ],
)
def test_every_webhook_fixture_parses_to_its_dedupe_key(
    fixture_bytes: Callable[[str], bytes], name: str, key: str
) -> None:
    assert parse_clickup_webhook(fixture_bytes(f"clickup/webhooks/{name}.json")).dedupe_key == key


def test_a_status_change_sent_twice_under_two_event_names_has_one_key(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    one = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskStatusUpdated.json"))
    two = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskUpdated_status.json"))

    assert one.event != two.event
    assert one.dedupe_key == two.dedupe_key
    assert one.status_change == two.status_change == ("to do", "in progress")


def test_task_creation_is_not_swallowed_by_its_companion_status_event(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    created = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskCreated.json"))
    companion = parse_clickup_webhook(
        fixture_bytes("clickup/webhooks/taskStatusUpdated_sent_with_taskCreated.json")
    )

    assert created.dedupe_key != companion.dedupe_key
    assert created.task_id == "1vj37mc"
    assert created.list_id == "162641062"
    assert created.actor is not None
    assert created.actor.id == "183"


def test_webhook_details_are_read_as_plain_values(fixture_bytes: Callable[[str], bytes]) -> None:
    comment = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskCommentPosted.json"))
    description = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskUpdated_description.json"))
    assignee = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskAssigneeUpdated.json"))
    deleted = parse_clickup_webhook(fixture_bytes("clickup/webhooks/taskDeleted.json"))

    assert comment.comment is not None
    assert (comment.comment.id, comment.comment.plain_text) == ("648893191", "comment abc1234")
    assert description.description_text == "This is a task description update to trigger the"
    assert assignee.assignee_added is not None
    assert assignee.assignee_added.id == "184"
    assert (deleted.history_items, deleted.primary_item, deleted.list_id) == ([], None, None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event": "taskCreated", "task_id": "t"}', "webhook_id"),
        (b'{"event": "", "task_id": "t", "webhook_id": "w"}', "event"),
        (b'{"event": "taskCreated", "task_id": true, "webhook_id": "w"}', "task_id"),
        (
            b'{"event": "taskCreated", "task_id": "t", "webhook_id": "w", "history_items": {}}',
            "history_items",
        ),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_malformed_delivery_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_clickup_webhook(body)
    assert reason in caught.value.reason


_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
_json = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
_fields = st.sampled_from(["status", "content", "comment", "assignee_add", "task_creation", None, 5])
_history_item = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=20), st.integers())},
    optional={
        "field": _fields,
        "before": _json,
        "after": _json,
        "comment": _json,
        "user": _json,
        "parent_id": _json,
    },
)
_delivery = st.fixed_dictionaries(
    {"event": st.one_of(st.sampled_from(["taskCreated", "taskUpdated", "taskDeleted"]), _json)},
    optional={
        "task_id": st.one_of(st.text(max_size=12), st.integers(), _json),
        "webhook_id": st.one_of(st.text(max_size=12), _json),
        "history_items": st.one_of(st.lists(_history_item, max_size=3), _json),
    },
)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(payload=_delivery)
def test_any_json_delivery_parses_or_is_refused_as_malformed(payload: dict[str, Any]) -> None:
    try:
        event = parse_clickup_webhook(json.dumps(payload).encode())
    except MalformedPayload:
        return
    assert isinstance(event, ClickUpWebhookEvent)
    assert event.dedupe_key.startswith(event.webhook_id + ":")
    # Reading the details never fails, whatever the history items held.
    _ = (event.status_change, event.description_text, event.comment, event.assignee_added, event.actor)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(body=st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused_as_malformed(body: bytes) -> None:
    try:
        event = parse_clickup_webhook(body)
    except MalformedPayload:
        return
    assert event.dedupe_key


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"webhook_id":"7689a169-a000-4985-8676-6902b96d6627","event":"taskCreated"}',
            "7689a169-a000-4985-8676-6902b96d6627",
        ),
        (b'{"webhook_id": 5}', None),
        (b'{"webhook_id": ""}', None),
        (b'{"webhook_id": "a\\u0000b"}', None),  # NUL: never looked up in PostgreSQL
        (b'{"webhook_id": "' + b"x" * 65 + b'"}', None),
        (b"[]", None),
        (b"garbage", None),
    ],
)
def test_webhook_id_is_peeked_before_verification(body: bytes, expected: str | None) -> None:
    assert peek_webhook_id(body) == expected
