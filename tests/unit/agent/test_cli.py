"""``oblivion agent``: the protocol schema command and loading an agent from ``module:attribute``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from oblivion_agent.cli import EXIT_BAD_AGENT, EXIT_BAD_SETTINGS, app
from oblivion_agent.protocol import Ack as AckData
from oblivion_agent.protocol import AckFrame, HeartbeatFrame, RegisterFrame, json_schema, make_event

SCHEMA_FILE = Path(__file__).parents[3] / "agent-runtime" / "protocol.schema.json"
REGENERATE = (
    "regenerate it with: .venv/bin/oblivion agent protocol-schema > agent-runtime/protocol.schema.json"
)


def test_protocol_schema_command_prints_the_committed_schema() -> None:
    result = CliRunner().invoke(app, ["protocol-schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    committed = json.loads(SCHEMA_FILE.read_text())
    assert printed == committed, f"{SCHEMA_FILE} is out of date with oblivion_agent.protocol; {REGENERATE}"


def test_the_schema_accepts_every_frame_the_sdk_and_nexus_build() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    frames = [
        RegisterFrame(),
        HeartbeatFrame(),
        AckFrame(data=AckData(ids=["e1"])),
        make_event("TASK_ASSIGNED", {"task_id": "t1", "project": "payments", "title": "Fix it"}),
        make_event("CONTEXT_UPDATE", {"task_id": "t1", "kind": "slack_reply", "text": "hi"}),
        make_event("WAKE_UP", {"reason": "mentioned"}),
        make_event("TOOL_RESULT", {"request_id": "r1", "ok": True, "result": {"n": 1}}),
    ]
    for frame in frames:
        errors = [e.message for e in validator.iter_errors(frame.model_dump(mode="json"))]
        assert errors == [], frame.type


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "TASK_ASSIGNED", "id": "e1", "ts": "2026-01-01T00:00:00Z", "data": {"title": "no task id"}},
        {"type": "ACK", "id": "a1", "ts": "2026-01-01T00:00:00Z", "data": {"ids": []}},
        {"type": "NOT_A_TYPE", "id": "x", "ts": "2026-01-01T00:00:00Z", "data": {}},
    ],
)
def test_the_schema_refuses_frames_that_break_the_protocol(frame: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not validator.is_valid(frame)


def test_run_refuses_a_target_that_is_not_an_agent() -> None:
    result = CliRunner().invoke(app, ["run", "json:dumps"])
    assert result.exit_code == EXIT_BAD_AGENT
    assert "not an oblivion_agent.Agent" in result.output


def test_run_refuses_a_target_without_an_attribute() -> None:
    result = CliRunner().invoke(app, ["run", "examples.agents.echo"])
    assert result.exit_code != 0
    assert "package.module:attribute" in result.output


def test_run_names_a_module_that_does_not_exist() -> None:
    result = CliRunner().invoke(app, ["run", "no_such_package.agents:agent"])
    assert result.exit_code != 0
    assert "no module named 'no_such_package.agents'" in result.output


def test_run_without_settings_names_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OBLIVION_NEXUS_URL", "OBLIVION_CLIENT_ID", "OBLIVION_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["run", "examples.agents.echo:agent"])
    assert result.exit_code == EXIT_BAD_SETTINGS
    assert "OBLIVION_CLIENT_SECRET: is not set" in result.output


def test_importing_the_sdk_configures_no_logging() -> None:
    import subprocess
    import sys

    code = (
        "import logging, oblivion_agent, oblivion_agent.cli, oblivion_agent.protocol\n"
        "root = logging.getLogger()\n"
        "assert not root.handlers and root.level == logging.WARNING, (root.handlers, root.level)\n"
        "assert not logging.getLogger('oblivion_agent').handlers\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
