"""Benchmark of a human approval's last leg: from Slack delivering an Approve click to Nexus until the
agent holds the call's ``TOOL_RESULT`` on its WebSocket.

The fake GitHub and the fake Slack run as their own processes and Nexus as ``oblivion nexus serve``.
An agent connected to ``/v1/agents/connect`` asks for ``issues.create``, which its credential says
needs a person's yes; the call is announced in the fake Slack (202), and a signed click on Approve is
posted to ``/webhooks/slack/interactivity`` as Slack posts it. Measured per approval: the click
POST sent → the ``TOOL_RESULT`` frame received (the decision, the upstream call, the audit records,
the Slack message update and the delivery over Redis to the agent's socket). Baselines in the same
run, interleaved: the same upstream call made directly, and the click route's own answer (Nexus
verifies and answers before deciding).

    .venv/bin/python bench/tool_approvals.py                    # 100 approvals
    .venv/bin/python bench/tool_approvals.py --approvals 300

Needs PostgreSQL and Redis as the tests do (OBLIVION_TEST_PG_DSN, OBLIVION_TEST_REDIS_URL). Sends
traffic to 127.0.0.1 only, for a bounded number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import bench_agent, bench_github_credential, fake_process, scratch_nexus_env  # noqa: E402
from bench.timing import percentile  # noqa: E402
from tests.fakes.slack_events import button_click  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

from oblivion_agent.protocol import (  # noqa: E402
    SUBPROTOCOL,
    Ack,
    AckFrame,
    HeartbeatFrame,
    RegisterFrame,
    parse_server_frame,
)

REPO = "acme/api"
APPROVER = "UAPPROVER1"
SLACK_TOKEN = "xoxb-bench-" + secrets.token_hex(8)
TARGET_P99_MS = 300.0


class Agent:
    """The agent's side of the socket: answers heartbeats, acknowledges events and notes when each
    ``TOOL_RESULT`` arrived (by the approval it answers)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.arrived: dict[str, float] = {}
        self.results: dict[str, bool] = {}
        self._waiting: dict[str, asyncio.Event] = {}

    async def read(self) -> None:
        async for raw in self.ws:
            at = time.perf_counter()
            frame = parse_server_frame(raw)
            if frame.type == "HEARTBEAT":
                await self.ws.send(HeartbeatFrame().model_dump_json())
                continue
            if frame.type == "TOOL_RESULT":
                self.arrived[frame.data.request_id] = at
                self.results[frame.data.request_id] = frame.data.ok
                self._event(frame.data.request_id).set()
            if frame.type != "ERROR":
                await self.ws.send(AckFrame(data=Ack(ids=[frame.id])).model_dump_json())

    def _event(self, approval_id: str) -> asyncio.Event:
        return self._waiting.setdefault(approval_id, asyncio.Event())

    async def result_of(self, approval_id: str, timeout: float = 10) -> float:
        """When the ``TOOL_RESULT`` of ``approval_id`` arrived (perf_counter seconds)."""
        async with asyncio.timeout(timeout):
            await self._event(approval_id).wait()
        if not self.results[approval_id]:
            raise SystemExit(f"approval {approval_id} was delivered as failed")
        return self.arrived[approval_id]


def click_request(approval_id: str, channel: str, signing_secret: str) -> tuple[bytes, dict[str, str]]:
    """The form body and headers Slack posts when APPROVER clicks Approve."""
    body, headers = button_click(
        signing_secret, user=APPROVER, channel=channel, action_id="approve", value=approval_id
    )
    return body, headers


async def measure(
    nexus_url: str,
    admin: dict[str, str],
    github_url: str,
    token: str,
    slack_url: str,
    signing_secret: str,
    args: argparse.Namespace,
) -> None:
    async with httpx.AsyncClient(base_url=slack_url, timeout=10) as slack:
        created = await slack.post(
            "/api/conversations.create",
            data={"name": f"bench-{secrets.token_hex(4)}"},
            headers={"Authorization": f"Bearer {SLACK_TOKEN}"},
        )
        channel = created.json()["channel"]["id"]
    async with (
        httpx.AsyncClient(base_url=nexus_url, timeout=30) as http,
        httpx.AsyncClient(base_url=github_url, timeout=30) as upstream,
    ):
        approval = {"actions": ["issues.create"], "approvers": [APPROVER], "timeoutSeconds": 600}
        await bench_github_credential(
            http, admin, github_url, token, ["issues.*"], approval, slackChannelId=channel
        )
        bearer = await bench_agent(http, admin, "approvals", tools=[{"credential": "github"}])
        call = {
            "tool": "github",
            "action": "issues.create",
            "args": {"owner": "acme", "repo": "api", "title": "from the bench"},
        }
        ws_url = "ws" + nexus_url.removeprefix("http") + "/v1/agents/connect"
        async with connect(ws_url, additional_headers=bearer, subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send(RegisterFrame().model_dump_json())
            agent = Agent(ws)
            reader = asyncio.create_task(agent.read())
            direct: list[float] = []
            answered: list[float] = []
            delivered: list[float] = []
            try:
                for n in range(args.warmup + args.approvals):
                    started = time.perf_counter()
                    floor = await upstream.post(
                        f"/repos/{REPO}/issues",
                        json={"title": "direct"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    floor_ms = (time.perf_counter() - started) * 1000
                    if floor.status_code != 201:
                        raise SystemExit(f"the fake GitHub answered {floor.status_code}: {floor.text[:200]}")
                    pending = await http.post("/v1/tools/invoke", json=call, headers=bearer)
                    if pending.status_code != 202:
                        raise SystemExit(f"expected 202, got {pending.status_code}: {pending.text[:200]}")
                    approval_id = pending.json()["approvalId"]
                    body, headers = click_request(approval_id, channel, signing_secret)
                    clicked = time.perf_counter()
                    answer = await http.post("/webhooks/slack/interactivity", content=body, headers=headers)
                    answered_at = time.perf_counter()
                    if answer.status_code != 200:
                        raise SystemExit(f"the click got {answer.status_code}: {answer.text[:200]}")
                    arrived = await agent.result_of(approval_id)
                    if n >= args.warmup:
                        direct.append(floor_ms)
                        answered.append((answered_at - clicked) * 1000)
                        delivered.append((arrived - clicked) * 1000)
            finally:
                reader.cancel()
    report(direct, answered, delivered)


def report(direct: list[float], answered: list[float], delivered: list[float]) -> None:
    quantiles = (0.5, 0.9, 0.99)
    rows = {
        "direct issues.create (floor)": direct,
        "click route's own answer": answered,
        "click → TOOL_RESULT at the agent": delivered,
    }
    print(f"{len(delivered)} approvals, one at a time (ms)      p50      p90      p99")
    for name, values in rows.items():
        p50, p90, p99 = (percentile(values, q) for q in quantiles)
        print(f"  {name:38s} {p50:7.2f}  {p90:7.2f}  {p99:7.2f}")
    for name, base in (("the direct call", direct), ("the click's answer", answered)):
        ratios = [percentile(delivered, q) / percentile(base, q) for q in (0.5, 0.99)]
        print(f"  click → TOOL_RESULT over {name:22s} p50 {ratios[0]:5.1f}x  p99 {ratios[1]:5.1f}x")
    p99 = percentile(delivered, 0.99)
    verdict = "within" if p99 <= TARGET_P99_MS else "OVER"
    print(f"  p99 {p99:.1f} ms: {verdict} the {TARGET_P99_MS:.0f} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvals", type=int, default=100, help="approvals measured (≥ 50 for a p99)")
    parser.add_argument("--warmup", type=int, default=5, help="approvals made first and not counted")
    args = parser.parse_args()
    token = "ghp_" + secrets.token_urlsafe(24)
    signing_secret = secrets.token_hex(16)
    github_port, slack_port = free_port(), free_port()
    slack_url = f"http://127.0.0.1:{slack_port}"
    settings = {
        "OBLIVION_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "OBLIVION_SLACK_API_URL": slack_url + "/api/",
        "OBLIVION_SLACK_SIGNING_SECRET": signing_secret,
        # Measure the approval path, not the agent's rate limit.
        "OBLIVION_TOOL_CALLS_PER_MINUTE": "100000",
    }
    github = ("tests.fakes.github", "fake GitHub on", "--port", str(github_port), "--token", token)
    slack = ("tests.fakes.slack", "fake Slack listening", "--port", str(slack_port))
    with (
        fake_process(*github, "--repo", REPO, "--rate-limit", str(10**9)),
        fake_process(*slack, "--token", SLACK_TOKEN),
        scratch_nexus_env(**settings) as env,
        nexus_process(env) as nexus,
    ):
        asyncio.run(
            measure(
                nexus.url,
                nexus.admin_headers(),
                f"http://127.0.0.1:{github_port}",
                token,
                slack_url,
                signing_secret,
                args,
            )
        )


if __name__ == "__main__":
    main()
