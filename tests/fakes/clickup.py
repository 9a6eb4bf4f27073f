"""A fake ClickUp: the API v2 calls Oblivion makes, served over real HTTP on loopback.

It keeps tasks, comments and team webhooks in memory, checks the token like ClickUp (401
``OAUTH_025``), can be told to rate-limit (429 with ``X-RateLimit-*``), records every call, and
delivers signed webhooks to registered endpoints the way ClickUp does (compact JSON, ``X-Signature``,
up to five attempts, suspension on 401/410). Use it in-process (``with FakeClickUp() as fake``) or as a
process: ``python -m tests.fakes.clickup --port 8765`` (then drive it through ``/_fake/…``).
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from tests.fakes import clickup_payloads as shapes
from tests.fakes.clickup_delivery import MAX_ATTEMPTS, WebhookDelivery, deliver_with_retries, send_webhook
from tests.fakes.clickup_routes import RecordedCall, build_app
from tests.support.servers import LoopbackServer

DEFAULT_TOKEN = "pk_183_FAKECLICKUPTOKEN"
DEFAULT_TEAM_ID = "9012345"
DEFAULT_STATUSES = ("to do", "in progress", "review", "complete")
__all__ = ["FakeClickUp", "RecordedCall", "WebhookDelivery", "send_webhook"]
_SUSPEND_AT = 100  # fail_count at which ClickUp suspends a webhook


class FakeClickUp:
    """In-memory ClickUp. Thread-safe: the server runs in its own thread, tests mutate from theirs."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, team_id: str = DEFAULT_TEAM_ID) -> None:
        self.tokens = {token}
        self.token = token
        self.team_id = team_id
        self.tasks: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, tuple[str, ...]] = {}
        self.calls: list[RecordedCall] = []
        self.deliveries: list[WebhookDelivery] = []
        self.limit_per_minute: int | None = None
        #: The user the API token belongs to: author of comments and changes made through the API.
        self.api_user: dict[str, Any] = shapes.user(999, "Oblivion Bot", "oblivion@example.com")
        #: Whether changes made through the API send webhooks too (ClickUp's behaviour).
        self.webhooks_for_api_changes = True
        #: When set, a status changed through the API is reported by webhook first and answered this
        #: many seconds later (ClickUp under load): the webhook races the caller's own bookkeeping.
        self.answer_after_webhooks_seconds: float | None = None
        self._forced_429 = 0
        self._forced_reset_after = 30.0
        self._window: tuple[float, int] = (0.0, 0)  # (start, requests) of the current 60 s window
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: LoopbackServer | None = None
        self.url = ""
        self.app: Starlette = build_app(self)

    # ---- state helpers used by tests -------------------------------------------------------------

    def new_id(self) -> str:
        return format(next(self._ids), "x") + secrets.token_hex(2)

    def add_task(
        self,
        *,
        list_id: str,
        name: str,
        description: str = "",
        status: str = "to do",
        assignees: list[dict[str, Any]] | None = None,
        tags: list[str] | None = None,
        creator: dict[str, Any] | None = None,
        task_id: str | None = None,
        date_ms: int | None = None,
    ) -> dict[str, Any]:
        """Put a task in the fake without any webhook (as if it existed before Nexus was watching)."""
        body = shapes.task(
            task_id=task_id or self.new_id(),
            name=name,
            description=description,
            list_id=list_id,
            team_id=self.team_id,
            status_name=status,
            creator=creator,
            assignees=assignees,
            tags=tags,
            date_ms=date_ms,
        )
        with self._lock:
            self.tasks[body["id"]] = body
            self.comments.setdefault(body["id"], [])
        return body

    def add_comment(
        self, task_id: str, text: str, *, author: dict[str, Any] | None = None, date_ms: int | None = None
    ) -> dict[str, Any]:
        with self._lock:
            existing = self.comments.setdefault(task_id, [])
            # Comment dates strictly increase, so "newest first" is well defined even within 1 ms.
            last = max((int(c["date"]) for c in existing), default=0)
            stamp = max(date_ms or shapes.now_ms(), last + 1)
            item = shapes.comment(str(next(self._ids)), text, author or dict(shapes.DEFAULT_USER), stamp)
            existing.append(item)
            if task_id in self.tasks:
                self.tasks[task_id]["date_updated"] = str(stamp)
        return item

    def comments_newest_first(self, task_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self.comments.get(task_id, []), key=lambda c: int(c["date"]), reverse=True)

    def statuses_of(self, list_id: str) -> tuple[str, ...]:
        return self.statuses.get(list_id, DEFAULT_STATUSES)

    def set_webhook_health(
        self, webhook_id: str, *, status: str = "suspended", fail_count: int = 100
    ) -> None:
        with self._lock:
            self.webhooks[webhook_id]["health"] = {"status": status, "fail_count": fail_count}

    def rate_limit(self, requests: int = 1, *, reset_after: float = 30.0) -> None:
        """Answer the next ``requests`` API calls with 429, as if the token's quota were spent."""
        with self._lock:
            self._forced_429 = requests
            self._forced_reset_after = reset_after

    def calls_to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def check_quota(self) -> tuple[bool, dict[str, str]]:
        """Whether this request may proceed, and the ``X-RateLimit-*`` headers to send with it."""
        with self._lock:
            now = time.time()
            started, count = self._window
            if now - started >= 60:
                started, count = now, 0
            count += 1
            self._window = (started, count)
            limit = self.limit_per_minute or 100
            if self._forced_429 > 0:
                self._forced_429 -= 1
                reset = int(now + self._forced_reset_after)
                return False, {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                }
            reset = int(started + 60)
            remaining = max(0, limit - count)
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset),
            }
            allowed = self.limit_per_minute is None or count <= self.limit_per_minute
            return allowed, headers

    # ---- webhook deliveries ----------------------------------------------------------------------

    def webhooks_for(self, event: str, list_id: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                hook
                for hook in self.webhooks.values()
                if hook["health"]["status"] != "suspended"
                and (event in hook["events"] or "*" in hook["events"])
                and (hook["list_id"] is None or list_id is None or str(hook["list_id"]) == list_id)
            ]

    async def send_webhook(
        self,
        webhook_id: str,
        payload: dict[str, Any],
        *,
        http: httpx.AsyncClient | None = None,
        retry_delay: float = 0.0,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> WebhookDelivery:
        """POST ``payload`` to the webhook's endpoint, signed with its secret, retrying like ClickUp."""
        with self._lock:
            hook = self.webhooks[webhook_id]
            endpoint, secret = hook["endpoint"], hook["secret"]
        body = shapes.compact_json({**payload, "webhook_id": webhook_id})
        delivery = WebhookDelivery(webhook_id, str(payload.get("event")), body)
        await deliver_with_retries(
            endpoint, delivery, secret, http=http, retry_delay=retry_delay, max_attempts=max_attempts
        )
        last = delivery.statuses[-1]
        if delivery.delivered:
            self._health_ok(webhook_id)
        elif last in (401, 410):  # ClickUp suspends at once on these
            self.set_webhook_health(webhook_id, status="suspended", fail_count=hook["health"]["fail_count"])
        else:
            self._health_failed(webhook_id)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    async def emit(
        self,
        event: str,
        *,
        task_id: str,
        history_items: list[dict[str, Any]] | None = None,
        list_id: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> list[WebhookDelivery]:
        """Deliver ``event`` about a task to every matching, non-suspended webhook."""
        list_id = list_id or self.tasks.get(task_id, {}).get("list", {}).get("id")
        results = []
        for hook in self.webhooks_for(event, list_id):
            payload = shapes.webhook_payload(
                event, task_id=task_id, webhook_id=hook["id"], history_items=history_items
            )
            results.append(await self.send_webhook(hook["id"], payload, http=http))
        return results

    def _health_ok(self, webhook_id: str) -> None:
        with self._lock:
            self.webhooks[webhook_id]["health"] = {"status": "active", "fail_count": 0}

    def _health_failed(self, webhook_id: str) -> None:
        with self._lock:
            health = self.webhooks[webhook_id]["health"]
            fails = int(health["fail_count"]) + 1
            status = "suspended" if fails >= _SUSPEND_AT else "failing"
            self.webhooks[webhook_id]["health"] = {"status": status, "fail_count": fails}

    # ---- what a ClickUp user does, with the webhooks ClickUp sends for it -------------------------

    async def create_task(
        self,
        *,
        list_id: str,
        name: str,
        description: str = "",
        tags: list[str] | None = None,
        assignees: list[dict[str, Any]] | None = None,
        creator: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[WebhookDelivery]]:
        """Create a task and send ``taskCreated`` plus its companion ``taskStatusUpdated``.

        ClickUp sends both for one creation, with the same status history item id.
        """
        author = creator or dict(shapes.DEFAULT_USER)
        task = self.add_task(
            list_id=list_id,
            name=name,
            description=description,
            tags=tags,
            assignees=assignees,
            creator=author,
        )
        items = shapes.creation_history_items(list_id, "to do", author)
        deliveries = await self.emit("taskCreated", task_id=task["id"], history_items=items)
        deliveries += await self.emit("taskStatusUpdated", task_id=task["id"], history_items=items[:1])
        return task, deliveries

    async def post_comment(
        self, task_id: str, text: str, author: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[WebhookDelivery]]:
        author = author or shapes.user(184, "Sam")
        item = self.add_comment(task_id, text, author=author)
        list_id = self.tasks[task_id]["list"]["id"]
        history = [shapes.comment_history_item(list_id, task_id, item["id"], text, author)]
        return item, await self.emit("taskCommentPosted", task_id=task_id, history_items=history)

    async def change_status(
        self, task_id: str, new_status: str, author: dict[str, Any] | None = None
    ) -> list[WebhookDelivery]:
        """Move a task and send ``taskStatusUpdated`` and ``taskUpdated`` (one history item id)."""
        with self._lock:
            task = self.tasks[task_id]
            before = task["status"]["status"]
            task["status"] = {**task["status"], **shapes.status(new_status)}
            task["date_updated"] = str(shapes.now_ms())
        item = shapes.status_history_item(
            task["list"]["id"], before, new_status, author or shapes.user(184, "Sam")
        )
        return await self.emit_status_change(task_id, item)

    async def emit_status_change(self, task_id: str, item: dict[str, Any]) -> list[WebhookDelivery]:
        """ClickUp reports one status change twice: ``taskStatusUpdated`` and ``taskUpdated``."""
        deliveries = await self.emit("taskStatusUpdated", task_id=task_id, history_items=[item])
        return deliveries + await self.emit("taskUpdated", task_id=task_id, history_items=[item])

    async def change_description(
        self, task_id: str, description: str, author: dict[str, Any] | None = None
    ) -> list[WebhookDelivery]:
        with self._lock:
            task = self.tasks[task_id]
            task["description"] = task["text_content"] = description
            task["date_updated"] = str(shapes.now_ms())
        item = shapes.description_history_item(
            task["list"]["id"], description, author or shapes.user(184, "Sam")
        )
        return await self.emit("taskUpdated", task_id=task_id, history_items=[item])

    async def delete_task(self, task_id: str) -> list[WebhookDelivery]:
        with self._lock:
            task = self.tasks.pop(task_id)
        return await self.emit("taskDeleted", task_id=task_id, list_id=task["list"]["id"])

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on loopback in a background thread; returns the API base URL (``…/api/v2/``)."""
        self._server = LoopbackServer(self.app, host=host, port=port)
        self.url = self._server.start().base_url + "/api/v2/"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> FakeClickUp:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake ClickUp API v2 on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--team-id", default=DEFAULT_TEAM_ID)
    args = parser.parse_args(argv)
    fake = FakeClickUp(token=args.token, team_id=args.team_id)
    print(f"fake ClickUp at http://{args.host}:{args.port}/api/v2/ (team {args.team_id})", flush=True)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning", lifespan="off", ws="none")


if __name__ == "__main__":
    main()
