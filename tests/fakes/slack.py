"""A fake Slack Web API on a loopback port, for slack_sdk clients in tests and e2e runs.

Point `WebClient(base_url=fake.url + "/api/")` at it. It checks the bot token (`invalid_auth`),
answers errors as HTTP 200 `{"ok": false}` like Slack, and 429 + `Retry-After` only for rate limits a
test planned with `rate_limit()`. Tests can change the workspace behind the client's back (archive or
delete a channel, add a human reply) and inspect every call and message. Run it standalone with
`python -m tests.fakes.slack --port 8099`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web

from tests.fakes.slack_state import BOT_USER_ID, HUMAN_USER_ID, Call, Channel, SlackError, SlackWorkspace
from tests.support.servers import BackgroundServer


async def _request_args(request: aiohttp.web.Request) -> dict[str, Any]:
    """Query string, form body and JSON body merged, as Slack accepts all three."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                args.update(body)
        else:
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                args[key] = None
    return args


class FakeSlack(BackgroundServer):
    """The fake Slack server and its workspace; start it, use `url`, stop it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_token: str = "xoxb-test-token",
        require_membership: bool = True,
    ) -> None:
        super().__init__(host=host, port=port)
        self.workspace = SlackWorkspace(bot_token=bot_token, require_membership=require_membership)

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def bot_token(self) -> str:
        return self.workspace.bot_token

    # Test controls

    def rate_limit(self, method: str, *, times: int = 1, retry_after: float = 1) -> None:
        """The next `times` calls of `method` get 429 with `Retry-After: retry_after`."""
        self.workspace.plan_rate_limit(method, times, retry_after)

    def add_channel(
        self, name: str, *, bot_is_member: bool = False, is_private: bool = False
    ) -> dict[str, Any]:
        """A channel made by a person (e.g. one a Project adopts); the bot is not in it unless asked."""
        members = {HUMAN_USER_ID} | ({BOT_USER_ID} if bot_is_member else set())
        channel = self.workspace.add_channel(name, members=members, is_private=is_private)
        return channel.as_api(HUMAN_USER_ID)

    def archive_channel(self, channel_id: str) -> None:
        """Archive a channel as a person would, behind the operator's back."""
        with self.workspace.lock:
            self._channel(channel_id).is_archived = True

    def delete_channel(self, channel_id: str) -> None:
        self.workspace.delete_channel(channel_id)

    def post_as_user(
        self, channel_id: str, text: str, *, user: str = HUMAN_USER_ID, thread_ts: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"user": user, "text": text}
        if thread_ts:
            message["thread_ts"] = thread_ts
        return copy.deepcopy(self.workspace.post(channel_id, message))

    # Inspection

    @property
    def calls(self) -> list[Call]:
        with self.workspace.lock:
            return list(self.workspace.calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def channels(self) -> list[dict[str, Any]]:
        with self.workspace.lock:
            return [c.as_api(BOT_USER_ID) for c in self.workspace.channels.values()]

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        with self.workspace.lock:
            found = self.workspace.channels.get(channel_id)
            return found.as_api(BOT_USER_ID) if found else None

    def channel_named(self, name: str) -> dict[str, Any] | None:
        with self.workspace.lock:
            found = next((c for c in self.workspace.channels.values() if c.name == name), None)
            return found.as_api(BOT_USER_ID) if found else None

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message of a channel, oldest first, replies included."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.messages.get(channel_id, []))

    def thread(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        """The parent message and its replies, oldest first."""
        return [m for m in self.messages(channel_id) if thread_ts in (m["ts"], m.get("thread_ts"))]

    def _channel(self, channel_id: str) -> Channel:
        channel = self.workspace.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id} in the fake Slack")
        return channel

    # HTTP

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        method = request.match_info["method"]
        args = await _request_args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or args.pop(
            "token", ""
        )
        args.pop("token", None)
        retry_after = self.workspace.take_rate_limit(method)
        status = 200
        headers: dict[str, str] = {}
        if retry_after is not None:
            status, body = 429, {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = (
                str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            )
        else:
            body = self._dispatch(method, token, args)
        with self.workspace.lock:
            self.workspace.calls.append(
                Call(method=method, args=args, status=status, response=copy.deepcopy(body))
            )
        return aiohttp.web.json_response(body, status=status, headers=headers)

    def _dispatch(self, method: str, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.workspace.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        implementation = self.workspace.method(method)
        if implementation is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            with self.workspace.lock:
                return {"ok": True, **implementation(args)}
        except SlackError as e:
            return {"ok": False, "error": e.code}

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[object]:
        app = aiohttp.web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = aiohttp.web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
            yield runner
        finally:
            await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Slack Web API until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="xoxb-test-token", help="the bot token clients must present")
    options = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    fake = FakeSlack(host=options.host, port=options.port, bot_token=options.token).start()
    print(f"fake Slack listening on {fake.url}/api/", flush=True)
    try:
        stopping.wait()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
