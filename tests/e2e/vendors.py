"""The fake Slack and ClickUp as processes, and the clients a test uses to drive and read them.

The fake ClickUp runs as ``python -m tests.fakes.clickup`` (its ``/_fake`` control API is built in).
The fake Slack runs as ``python -m tests.e2e.vendors fake-slack``: the fake Web API plus a small
control API on a second port, so a test in another process can read the workspace, post as a person
and plan rate limits.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import STARTUP_SECONDS, Proc
from tests.support.servers import free_port
from tests.support.waiting import eventually_sync


class SlackProcess:
    """The fake Slack in its own process; the test reads its workspace through the control API."""

    def __init__(self, log_dir: Path, bot_token: str = "xoxb-test-token") -> None:
        self.port, self.control_port = free_port(), free_port()
        self.bot_token = bot_token
        argv = [
            sys.executable,
            "-m",
            "tests.e2e.vendors",
            "fake-slack",
            "--port",
            str(self.port),
            "--control-port",
            str(self.control_port),
            "--token",
            bot_token,
        ]
        self.proc = Proc("fake-slack", argv, {}, log_dir)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.control_port}", timeout=10)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> SlackProcess:
        self.proc.start()
        eventually_sync(
            lambda: _answers(self._http, "/_fake/channels"),
            timeout=STARTUP_SECONDS,
            what="fake Slack up",
            watch=[self.proc],
        )
        return self

    def stop(self) -> None:
        self._http.close()
        self.proc.stop()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def add_channel(self, name: str) -> str:
        return str(self._post("/_fake/channels", {"name": name})["id"])

    @property
    def channels(self) -> list[dict[str, Any]]:
        return list(self._get("/_fake/channels"))

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        return list(self._get(f"/_fake/channels/{channel_id}/messages"))

    def roots(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel_id) if m.get("thread_ts") in (None, m["ts"])]

    def replies(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            m for m in self.messages(channel_id) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def roots_by_task(self, channel_id: str) -> dict[str, list[dict[str, Any]]]:
        """Root messages of a channel grouped by the ClickUp task id in their metadata."""
        found: dict[str, list[dict[str, Any]]] = {}
        for message in self.roots(channel_id):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("task_id"):
                found.setdefault(str(payload["task_id"]), []).append(message)
        return found

    def calls(self, method: str) -> list[dict[str, Any]]:
        return list(self._get("/_fake/calls", method=method))

    def rate_limit(self, method: str, *, times: int, retry_after: float) -> None:
        self._post("/_fake/rate_limit", {"method": method, "times": times, "retry_after": retry_after})

    def post_as_user(self, channel_id: str, text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
        return dict(
            self._post(f"/_fake/channels/{channel_id}/messages", {"text": text, "thread_ts": thread_ts})
        )


class ClickUpProcess:
    """``python -m tests.fakes.clickup`` driven through its ``/_fake`` control API and its API v2."""

    def __init__(self, log_dir: Path) -> None:
        from tests.fakes.clickup import DEFAULT_TEAM_ID, DEFAULT_TOKEN

        self.port = free_port()
        self.token, self.team_id = DEFAULT_TOKEN, DEFAULT_TEAM_ID
        argv = [sys.executable, "-m", "tests.fakes.clickup", "--port", str(self.port)]
        self.proc = Proc("fake-clickup", argv, {}, log_dir)
        self._http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=30, headers={"Authorization": self.token}
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/"

    def start(self) -> ClickUpProcess:
        self.proc.start()
        eventually_sync(
            lambda: _answers(self._http, "/api/v2/user"),
            timeout=STARTUP_SECONDS,
            what="fake ClickUp up",
            watch=[self.proc],
        )
        return self

    def stop(self) -> None:
        self._http.close()
        self.proc.stop()

    def create_task(self, list_id: str, name: str, description: str = "") -> dict[str, Any]:
        """A person creates a task; ClickUp sends taskCreated + taskStatusUpdated to its webhooks."""
        response = self._http.post(
            "/_fake/tasks", json={"list_id": list_id, "name": name, "description": description}
        )
        response.raise_for_status()
        return dict(response.json()["task"])

    def comment(
        self, task_id: str, text: str, *, username: str = "Jane", user_id: int = 321
    ) -> dict[str, Any]:
        response = self._http.post(
            f"/_fake/tasks/{task_id}/comments", json={"text": text, "username": username, "user_id": user_id}
        )
        response.raise_for_status()
        return dict(response.json()["comment"])

    def comments(self, task_id: str) -> list[dict[str, Any]]:
        """Comments of a task, newest first."""
        response = self._http.get(f"/_fake/tasks/{task_id}/comments")
        response.raise_for_status()
        return list(response.json()["comments"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self._http.get(f"/api/v2/task/{task_id}")
        response.raise_for_status()
        return dict(response.json())

    def webhooks(self) -> list[dict[str, Any]]:
        response = self._http.get(f"/api/v2/team/{self.team_id}/webhook")
        response.raise_for_status()
        return list(response.json()["webhooks"])


def _answers(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code < 500
    except httpx.TransportError:
        return False


def _slack_control_app(fake: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def channels(_: Request) -> JSONResponse:
        return JSONResponse(fake.channels)

    async def add_channel(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(fake.add_channel(str(body["name"]), bot_is_member=True))

    async def messages(request: Request) -> JSONResponse:
        return JSONResponse(fake.messages(request.path_params["channel"]))

    async def post_message(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            fake.post_as_user(
                request.path_params["channel"], str(body["text"]), thread_ts=body.get("thread_ts")
            )
        )

    async def calls(request: Request) -> JSONResponse:
        method = request.query_params.get("method")
        found = fake.calls_to(method) if method else fake.calls
        return JSONResponse([{"method": c.method, "args": c.args, "status": c.status} for c in found])

    async def rate_limit(request: Request) -> JSONResponse:
        body = await request.json()
        fake.rate_limit(str(body["method"]), times=int(body["times"]), retry_after=float(body["retry_after"]))
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/_fake/channels", channels, methods=["GET"]),
            Route("/_fake/channels", add_channel, methods=["POST"]),
            Route("/_fake/channels/{channel}/messages", messages, methods=["GET"]),
            Route("/_fake/channels/{channel}/messages", post_message, methods=["POST"]),
            Route("/_fake/calls", calls, methods=["GET"]),
            Route("/_fake/rate_limit", rate_limit, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    from tests.fakes.slack import FakeSlack
    from tests.support.servers import LoopbackServer

    parser = argparse.ArgumentParser(description="Processes of the end-to-end tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    slack = commands.add_parser("fake-slack", help="the fake Slack Web API plus a control API")
    slack.add_argument("--port", type=int, required=True)
    slack.add_argument("--control-port", type=int, required=True)
    slack.add_argument("--token", default="xoxb-test-token")
    options = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    fake = FakeSlack(port=options.port, bot_token=options.token).start()
    control = LoopbackServer(_slack_control_app(fake), port=options.control_port)
    control.start()
    print(f"fake Slack on {fake.url}/api/, control on {control.base_url}/_fake/", flush=True)
    try:
        stopping.wait()
    finally:
        control.stop()
        fake.stop()


if __name__ == "__main__":
    main()
