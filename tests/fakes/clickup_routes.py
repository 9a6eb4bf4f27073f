"""HTTP routes of the fake ClickUp: the API v2 subset under ``/api/v2`` and a control API under ``/_fake``.

The control API lets a test in another process act as a ClickUp user (create a task, comment, change a
status) so the fake emits the same webhooks ClickUp would, and read back what Nexus did.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import clickup_payloads as shapes

if TYPE_CHECKING:
    from tests.fakes.clickup import FakeClickUp

Handler = Callable[[Request], Awaitable[Response]]
TASKS_PER_PAGE = 100  # Get Tasks pages hold 100 tasks
COMMENTS_PER_PAGE = 25  # Get Task Comments returns 25, newest first


@dataclass(frozen=True)
class RecordedCall:
    """One API call the fake received; the token is reduced to whether it was accepted."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorized: bool


def _error(status: int, err: str, ecode: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"err": err, "ECODE": ecode}, status_code=status, headers=headers)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def build_app(fake: FakeClickUp) -> Starlette:
    def api(handler: Callable[[Request, Any], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            body = await _json_body(request)
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            authorized = token in fake.tokens
            with fake._lock:
                fake.calls.append(
                    shapes_call(request, body, authorized)  # never records the token itself
                )
            if not token:
                return _error(401, "Authorization header required", "OAUTH_017")
            if not authorized:
                return _error(401, "Token invalid", "OAUTH_025")
            allowed, headers = fake.check_quota()
            if not allowed:
                return Response(status_code=429, headers=headers)
            if body is None:
                return _error(400, "Request body is not valid JSON", "INPUT_001", headers)
            response = await handler(request, body)
            response.headers.update(headers)
            return response

        return endpoint

    def task_or_404(task_id: str) -> dict[str, Any] | None:
        return fake.tasks.get(task_id)

    async def get_task(request: Request, _: Any) -> Response:
        task = task_or_404(request.path_params["task_id"])
        if task is None:
            return _error(404, "Task not found, deleted", "ITEM_013")
        return JSONResponse(task)

    async def put_task(request: Request, body: Any) -> Response:
        task = task_or_404(request.path_params["task_id"])
        if task is None:
            return _error(404, "Task not found, deleted", "ITEM_013")
        if not isinstance(body, dict):
            return _error(400, "Body must be an object", "INPUT_002")
        new_status = body.get("status")
        if new_status is not None and new_status not in fake.statuses_of(task["list"]["id"]):
            return _error(400, "Status does not exist", "ITEM_109")
        with fake._lock:
            before = task["status"]["status"]
            if new_status is not None:
                task["status"] = {**task["status"], **shapes.status(new_status)}
            for key in ("name", "description"):
                if isinstance(body.get(key), str):
                    task[key] = body[key]
                    if key == "description":
                        task["text_content"] = body[key]
            task["date_updated"] = str(shapes.now_ms())
        background = None
        if new_status is not None and new_status != before and fake.webhooks_for_api_changes:
            # ClickUp reports changes made through the API like any other, usually after answering;
            # on a slow answer its webhook arrives first.
            item = shapes.status_history_item(task["list"]["id"], before, new_status, fake.api_user)
            if fake.answer_after_webhooks_seconds is None:
                background = BackgroundTask(fake.emit_status_change, task["id"], item)
            else:
                await fake.emit_status_change(task["id"], item)
                await asyncio.sleep(fake.answer_after_webhooks_seconds)
        return JSONResponse(task, background=background)

    async def create_task(request: Request, body: Any) -> Response:
        # ClickUp's Create Task; like any change made through the API it sends the usual webhooks.
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return _error(400, "Task name invalid", "INPUT_005")
        task, _ = await fake.create_task(
            list_id=request.path_params["list_id"],
            name=body["name"],
            description=str(body.get("description") or ""),
            tags=[str(tag) for tag in body.get("tags") or []],
            creator=fake.api_user,
        )
        return JSONResponse(task)

    async def list_tasks(request: Request, _: Any) -> Response:
        list_id = request.path_params["list_id"]
        query = request.query_params
        try:
            page = int(query.get("page", "0"))
            updated_gt = int(query["date_updated_gt"]) if "date_updated_gt" in query else None
        except ValueError:
            return _error(400, "page and date_updated_gt must be integers", "INPUT_003")
        include_closed = query.get("include_closed", "false") == "true"
        with fake._lock:
            matching = [
                t
                for t in fake.tasks.values()
                if t["list"]["id"] == list_id
                and (updated_gt is None or int(t["date_updated"]) > updated_gt)
                and (include_closed or t["status"]["type"] != "closed")
            ]
        matching.sort(key=lambda t: int(t["date_created"]), reverse=True)
        chunk = matching[page * TASKS_PER_PAGE : (page + 1) * TASKS_PER_PAGE]
        return JSONResponse({"tasks": chunk, "last_page": (page + 1) * TASKS_PER_PAGE >= len(matching)})

    async def get_comments(request: Request, _: Any) -> Response:
        task_id = request.path_params["task_id"]
        if task_or_404(task_id) is None:
            return _error(404, "Task not found, deleted", "ITEM_013")
        ordered = fake.comments_newest_first(task_id)
        start_id = request.query_params.get("start_id")
        start = request.query_params.get("start")
        if start_id is not None:
            ids = [c["id"] for c in ordered]
            if start_id in ids:
                ordered = ordered[ids.index(start_id) + 1 :]
            elif start is not None and start.isdigit():
                ordered = [c for c in ordered if int(c["date"]) < int(start)]
        return JSONResponse({"comments": ordered[:COMMENTS_PER_PAGE]})

    async def post_comment(request: Request, body: Any) -> Response:
        task_id = request.path_params["task_id"]
        if task_or_404(task_id) is None:
            return _error(404, "Task not found, deleted", "ITEM_013")
        text = body.get("comment_text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return _error(400, "Comment text required", "CMT_001")
        item = fake.add_comment(task_id, text, author=fake.api_user)
        list_id = fake.tasks[task_id]["list"]["id"]
        history = shapes.comment_history_item(list_id, task_id, item["id"], text, fake.api_user)
        background = None
        if fake.webhooks_for_api_changes:
            background = BackgroundTask(
                fake.emit, "taskCommentPosted", task_id=task_id, history_items=[history]
            )
        return JSONResponse(
            {"id": item["id"], "hist_id": history["id"], "date": int(item["date"])}, background=background
        )

    async def get_user(request: Request, _: Any) -> Response:
        return JSONResponse({"user": {**fake.api_user, "week_start_day": 0, "timezone": "Europe/Amsterdam"}})

    async def create_webhook(request: Request, body: Any) -> Response:
        if request.path_params["team_id"] != fake.team_id:
            return _error(401, "Team not authorized", "OAUTH_027")
        if not isinstance(body, dict) or not isinstance(body.get("endpoint"), str) or not body["endpoint"]:
            return _error(400, "Endpoint required", "WH_001")
        events = body.get("events")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            return _error(400, "Events required", "WH_002")
        hook = shapes.webhook(
            fake.team_id, body["endpoint"], events, body.get("list_id"), secrets.token_hex(24)
        )
        with fake._lock:
            fake.webhooks[hook["id"]] = hook
        return JSONResponse({"id": hook["id"], "webhook": hook})

    def public(hook: dict[str, Any]) -> dict[str, Any]:
        # The secret is revealed once, on create; afterwards the fake keeps it to itself.
        return {k: v for k, v in hook.items() if k != "secret"}

    async def list_webhooks(request: Request, _: Any) -> Response:
        if request.path_params["team_id"] != fake.team_id:
            return _error(401, "Team not authorized", "OAUTH_027")
        with fake._lock:
            hooks = [public(h) for h in fake.webhooks.values()]
        return JSONResponse({"webhooks": hooks})

    async def update_webhook(request: Request, body: Any) -> Response:
        hook = fake.webhooks.get(request.path_params["webhook_id"])
        if hook is None:
            return _error(404, "Webhook not found", "WH_004")
        if not isinstance(body, dict):
            return _error(400, "Body must be an object", "INPUT_002")
        with fake._lock:
            if isinstance(body.get("endpoint"), str):
                hook["endpoint"] = body["endpoint"]
            if isinstance(body.get("events"), list):
                hook["events"] = body["events"]
            if body.get("status") == "active":
                hook["health"] = {"status": "active", "fail_count": 0}
        return JSONResponse({"id": hook["id"], "webhook": public(hook)})

    async def delete_webhook(request: Request, _: Any) -> Response:
        with fake._lock:
            removed = fake.webhooks.pop(request.path_params["webhook_id"], None)
        if removed is None:
            return _error(404, "Webhook not found", "WH_004")
        return JSONResponse({})

    # ---- control API (/_fake) ----------------------------------------------------------------------

    def control(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except (KeyError, ValueError, TypeError, AttributeError) as e:
                return JSONResponse(
                    {"error": f"bad control request: {type(e).__name__} {e}"}, status_code=400
                )

        return endpoint

    async def control_create_task(request: Request) -> Response:
        body = await _json_body(request) or {}
        task, deliveries = await fake.create_task(
            list_id=str(body["list_id"]),
            name=str(body.get("name", "Task")),
            description=str(body.get("description", "")),
            tags=list(body.get("tags", [])),
        )
        return JSONResponse({"task": task, "deliveries": [d.statuses for d in deliveries]})

    async def control_comment(request: Request) -> Response:
        body = await _json_body(request) or {}
        author = shapes.user(int(body.get("user_id", 184)), str(body.get("username", "Sam")))
        comment, deliveries = await fake.post_comment(
            request.path_params["task_id"], str(body["text"]), author
        )
        return JSONResponse({"comment": comment, "deliveries": [d.statuses for d in deliveries]})

    async def control_status(request: Request) -> Response:
        body = await _json_body(request) or {}
        deliveries = await fake.change_status(request.path_params["task_id"], str(body["status"]))
        return JSONResponse({"deliveries": [d.statuses for d in deliveries]})

    async def control_delete(request: Request) -> Response:
        deliveries = await fake.delete_task(request.path_params["task_id"])
        return JSONResponse({"deliveries": [d.statuses for d in deliveries]})

    async def control_calls(_: Request) -> Response:
        with fake._lock:
            calls = [c.__dict__ for c in fake.calls]
        return JSONResponse({"calls": calls})

    async def control_comments(request: Request) -> Response:
        return JSONResponse({"comments": fake.comments_newest_first(request.path_params["task_id"])})

    async def control_rate_limit(request: Request) -> Response:
        body = await _json_body(request) or {}
        fake.rate_limit(int(body.get("requests", 1)), reset_after=float(body.get("reset_after", 30)))
        return JSONResponse({})

    async def control_health(request: Request) -> Response:
        body = await _json_body(request) or {}
        fake.set_webhook_health(
            request.path_params["webhook_id"],
            status=str(body.get("status", "suspended")),
            fail_count=int(body.get("fail_count", 100)),
        )
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/api/v2/user", api(get_user), methods=["GET"]),
            Route("/api/v2/task/{task_id}", api(get_task), methods=["GET"]),
            Route("/api/v2/task/{task_id}", api(put_task), methods=["PUT"]),
            Route("/api/v2/list/{list_id}/task", api(list_tasks), methods=["GET"]),
            Route("/api/v2/list/{list_id}/task", api(create_task), methods=["POST"]),
            Route("/api/v2/task/{task_id}/comment", api(get_comments), methods=["GET"]),
            Route("/api/v2/task/{task_id}/comment", api(post_comment), methods=["POST"]),
            Route("/api/v2/team/{team_id}/webhook", api(create_webhook), methods=["POST"]),
            Route("/api/v2/team/{team_id}/webhook", api(list_webhooks), methods=["GET"]),
            Route("/api/v2/webhook/{webhook_id}", api(update_webhook), methods=["PUT"]),
            Route("/api/v2/webhook/{webhook_id}", api(delete_webhook), methods=["DELETE"]),
            Route("/_fake/tasks", control(control_create_task), methods=["POST"]),
            Route("/_fake/tasks/{task_id}/comments", control(control_comment), methods=["POST"]),
            Route("/_fake/tasks/{task_id}/comments", control(control_comments), methods=["GET"]),
            Route("/_fake/tasks/{task_id}/status", control(control_status), methods=["POST"]),
            Route("/_fake/tasks/{task_id}", control(control_delete), methods=["DELETE"]),
            Route("/_fake/calls", control(control_calls), methods=["GET"]),
            Route("/_fake/rate_limit", control(control_rate_limit), methods=["POST"]),
            Route("/_fake/webhooks/{webhook_id}/health", control(control_health), methods=["POST"]),
        ]
    )


def shapes_call(request: Request, body: Any, authorized: bool) -> RecordedCall:
    return RecordedCall(
        method=request.method,
        path=request.url.path.removeprefix("/api/v2"),
        query=dict(request.query_params),
        body=body,
        authorized=authorized,
    )
