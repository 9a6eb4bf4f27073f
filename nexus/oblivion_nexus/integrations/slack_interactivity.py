"""Slack's interactivity requests: a person clicked a button in a message Nexus posted.

Slack POSTs `application/x-www-form-urlencoded` with one field, `payload`, holding the JSON of a
`block_actions` payload, signed like events (the signature is checked on the raw body before this
module sees it). Only what a decision needs is kept: who clicked (`user.id`, the only field that
says who decided — message text is never trusted), which button (`action_id`) and its `value`
(the approval id Nexus put there), and where the message is, to update it afterwards.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, ValidationError

from oblivion_nexus.integrations.errors import MalformedPayload

# Slack's interactivity payloads are a few kilobytes; a larger one is not Slack's.
MAX_PAYLOAD_BYTES = 64 * 1024


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Loose):
    id: str
    username: str | None = None
    name: str | None = None


class _Team(_Loose):
    id: str


class _Container(_Loose):
    type: str
    channel_id: str | None = None
    message_ts: str | None = None


class _Action(_Loose):
    action_id: str
    type: str
    value: str | None = None
    block_id: str | None = None


class _Message(_Loose):
    ts: str
    thread_ts: str | None = None


class _BlockActions(_Loose):
    type: str
    team: _Team
    user: _User
    container: _Container
    actions: list[_Action]
    message: _Message | None = None
    response_url: str | None = None


class ButtonClick(_Loose):
    """One button click: who, which button and value, and the message it was in."""

    team_id: str
    user_id: str
    user_name: str | None
    action_id: str
    value: str | None
    channel_id: str | None
    message_ts: str | None
    thread_ts: str | None
    response_url: str | None


def parse_interaction(body: bytes) -> ButtonClick:
    """The form body Slack sent → the click; anything else is :class:`MalformedPayload`."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload("slack interactivity", "payload too large")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=8)
        raw = fields["payload"][0]
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as e:
        raise MalformedPayload("slack interactivity", "expected a form field 'payload' holding JSON") from e
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise MalformedPayload("slack interactivity", f"unsupported interaction type {kind!r}")
    try:
        payload = _BlockActions.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedPayload("slack interactivity", f"{where}: {first['msg']}") from e
    if len(payload.actions) != 1 or payload.actions[0].type != "button":
        raise MalformedPayload("slack interactivity", "expected exactly one button action")
    action = payload.actions[0]
    return ButtonClick(
        team_id=payload.team.id,
        user_id=payload.user.id,
        user_name=payload.user.username or payload.user.name,
        action_id=action.action_id,
        value=action.value,
        channel_id=payload.container.channel_id,
        message_ts=payload.container.message_ts or (payload.message.ts if payload.message else None),
        thread_ts=payload.message.thread_ts if payload.message else None,
        response_url=payload.response_url,
    )
