"""What an agent is told about a frame Nexus could not accept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oblivion_agent.protocol import parse_agent_frame
from oblivion_nexus.api.gateway import _diagnose


def _explain(raw: str) -> tuple[str, str, str | None]:
    with pytest.raises(ValidationError) as e:
        parse_agent_frame(raw)
    return _diagnose(raw, e.value)


def test_text_that_is_not_json_is_a_malformed_frame() -> None:
    assert _explain("{oops")[0] == "malformed_frame"


def test_a_server_frame_type_sent_by_an_agent_is_named_in_the_answer() -> None:
    code, message, frame_id = _explain('{"type": "WAKE_UP", "id": "f1", "data": {}}')
    assert (code, frame_id) == ("unknown_type", "f1")
    assert "'WAKE_UP'" in message
    assert "ACK" in message


def test_an_invalid_ack_says_which_field_is_wrong() -> None:
    code, message, _ = _explain('{"type": "ACK", "id": "f2", "data": {"ids": "not-a-list"}}')
    assert code == "invalid_frame"
    assert "data.ids" in message
