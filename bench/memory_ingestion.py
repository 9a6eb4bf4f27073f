"""Memory Bank end to end: a Slack message accepted by Nexus → searchable, at a steady rate.

Nexus runs as deployed, ``oblivion nexus serve`` and ``oblivion nexus worker`` as two processes (the
embedded engine owned by the worker, the local embedding model, the fake Slack for user names).
Messages of a mapped channel arrive as signed Slack events at ``--rate`` a second for ``--seconds``;
each one's clock starts when Nexus answered its delivery 2xx and stops when an agent's
``POST /v1/memory/search`` first returns it. A poller searches every ``--poll`` seconds for what was
sent since the oldest message not yet seen (by that message's text), so a figure includes up to one
poll interval of measurement delay; the poll's own round trip (the floor of any figure here) is
printed beside it.

    .venv/bin/python bench/memory_ingestion.py                  # 50 msg/s for 60 s
    .venv/bin/python bench/memory_ingestion.py --rate 20 --seconds 20

Needs PostgreSQL and Redis as the tests do. Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.scratch import bench_agent, scratch_nexus_env  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.slack_events import SlackEventSender, event_callback, message_event  # noqa: E402
from tests.support.nexus import nexus_process  # noqa: E402
from tests.support.processes import Proc, oblivion_executable  # noqa: E402
from tests.support.waiting import eventually  # noqa: E402

WORDS = [
    *("deploy rollback cache latency invoice refund login token cookie session queue worker retry",),
    *("timeout schema migration index replica backup alert dashboard release branch review merge",),
]
WORDS = " ".join(WORDS).split()
NUMBERED = re.compile(r"^bench note (\d+):")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    nexus_url: str, admin: dict[str, str], signing_secret: str, channel: str, args: argparse.Namespace
) -> None:
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=nexus_url, timeout=30) as http:
        for path, body in (
            ("/internal/v1/workgroups/bench", {}),
            ("/internal/v1/workgroups/bench/projects/notes", {"slackChannelId": channel}),
        ):
            (await http.put(path, json=body, headers=admin)).raise_for_status()
        bearer = await bench_agent(http, admin, "reader")
        sender = SlackEventSender(nexus_url + "/webhooks/slack", signing_secret, http=http)

        async def search(query: str, since: float | None = None) -> list[str]:
            body: dict[str, object] = {"query": query, "limit": 50}
            if since is not None:
                body["since"] = since
            answer = await http.post("/v1/memory/search", json=body, headers=bearer)
            if answer.status_code != 200:
                raise SystemExit(f"search answered {answer.status_code}: {answer.text[:200]}")
            return [hit["text"] for hit in answer.json()["hits"]]

        async def deliver(text: str, ts: str) -> None:
            delivery = await sender.send(event_callback(message_event(channel, text, ts=ts)))
            if not delivery.delivered:
                raise SystemExit(f"Nexus refused a message: {delivery.attempts}")

        # The first message creates the collection and waits for the model: not part of the figure.
        await deliver("warming up the memory bank", f"{time.time():.6f}")

        async def warm() -> bool:
            return any("warming up" in t for t in await search("warming up"))

        await eventually(warm, timeout=60, what="the first message searchable")

        total = int(args.rate * args.seconds)
        sent_ts: dict[int, float] = {}
        sent_text: dict[int, str] = {}
        accepted: dict[int, float] = {}
        seen: dict[int, float] = {}
        polls: list[float] = []
        sending_done = asyncio.Event()

        async def send(number: int) -> None:
            stamp = time.time()
            sent_ts[number] = stamp
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            sent_text[number] = f"bench note {number}: {words}"
            await deliver(sent_text[number], f"{stamp:.6f}")
            accepted[number] = time.monotonic()

        async def load() -> None:
            started = time.monotonic()
            pending = []
            for number in range(total):
                delay = started + number / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(send(number)))
            await asyncio.gather(*pending)
            sending_done.set()

        async def poll() -> None:
            deadline: float | None = None
            while len(seen) < total:
                if sending_done.is_set() and deadline is None:
                    deadline = time.monotonic() + 30
                if deadline is not None and time.monotonic() > deadline:
                    return
                waiting = [n for n in sent_ts if n not in seen]
                if waiting:
                    # The oldest message not seen yet, by its own text: first if it is stored at all,
                    # with the newer ones of the window after it.
                    oldest = min(waiting, key=sent_ts.__getitem__)
                    started = time.monotonic()
                    texts = await search(sent_text[oldest], since=sent_ts[oldest] - 0.001)
                    now = time.monotonic()
                    polls.append((now - started) * 1000)
                    for text in texts:
                        matched = NUMBERED.match(text)
                        if matched is not None:
                            seen.setdefault(int(matched.group(1)), now)
                await asyncio.sleep(args.poll)

        await asyncio.gather(load(), poll())

    latencies = [(seen[n] - accepted[n]) * 1000 for n in seen if n in accepted]
    missing = total - len(latencies)
    print(f"{total} messages at {args.rate:g}/s for {args.seconds:g} s; accepted → searchable (ms)")
    print("                                       p50      p90      p99      max")
    row = [percentile(latencies, q) for q in (0.5, 0.9, 0.99)] + [max(latencies)]
    print("  accepted → first search that finds it " + "  ".join(f"{v:7.0f}" for v in row))
    floor = [percentile(polls, q) for q in (0.5, 0.9, 0.99)] + [max(polls)]
    print("  one search round trip (the floor)      " + "  ".join(f"{v:7.0f}" for v in floor))
    print(f"  poll interval {args.poll * 1000:.0f} ms; {missing} messages never found within 30 s of the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between the poller's searches")
    parser.add_argument("--logs", help="keep the worker's log in this directory")
    parser.add_argument("--debug", action="store_true", help="the worker logs at DEBUG (with --logs)")
    parser.add_argument("--profile", help="write the worker's cProfile statistics to this file")
    args = parser.parse_args()
    args.worker_env = {"OBLIVION_LOG_LEVEL": "DEBUG"} if args.debug else {}
    signing_secret = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="oblivion-bench-memory-") as data_dir,
        FakeSlack() as slack,
    ):
        channel = slack.add_channel("bench-notes", bot_is_member=True)["id"]
        settings = {
            "OBLIVION_SLACK_SIGNING_SECRET": signing_secret,
            "OBLIVION_SLACK_BOT_TOKEN": slack.bot_token,
            "OBLIVION_SLACK_API_URL": slack.url + "/api/",
            "OBLIVION_MEMORY_DATA_DIR": data_dir,
            "OBLIVION_LOG_LEVEL": "WARNING",
        }
        with scratch_nexus_env(**settings) as env, nexus_process(env) as nexus:
            logs = Path(args.logs) if args.logs else Path(data_dir)
            env = {**nexus.env, **args.worker_env}
            command = [oblivion_executable(), "nexus", "worker"]
            if args.profile:
                command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
            worker = Proc("worker", command, env, logs).start()
            try:
                asyncio.run(measure(nexus.url, nexus.admin_headers(), signing_secret, channel, args))
            finally:
                worker.stop()


if __name__ == "__main__":
    main()
