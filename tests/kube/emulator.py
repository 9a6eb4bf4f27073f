"""A Kubernetes API server for tests, built on KMock's handler: real HTTP, real REST semantics.

KMock 0.8 gives the HTTP plumbing, the request log and its reaction DSL (tests can still inject
faults with `emulator[kmock.resource(...)] << 500`); this class closes its gaps for kopf, the official
client and kubectl: its own URL parser (KMock's cannot parse `/api/v1/namespaces`), discovery from a
live resource catalogue (POSTed CRDs are served), and every object request answered by the
`ObjectStore` with the real server's status codes and `kind: Status` errors.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal.rendering import ReactionMismatchError, Response

from tests.kube import discovery, errors, listing, patching, scaling, tables, watching
from tests.kube.requests import is_object_request, parse_request
from tests.kube.resources import ResourceCatalogue, ResourceType
from tests.kube.selectors import SelectorError, object_matcher
from tests.kube.store import ObjectStore

logger = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}


@attrs.define(kw_only=True)
class KubernetesApiEmulator(kmock.KubernetesScaffold):
    """The emulator's request handler; serve it with `tests.kube.server.EmulatorServer`."""

    catalogue: ResourceCatalogue = attrs.field(factory=ResourceCatalogue.with_builtins)
    store: ObjectStore = attrs.field(init=False)
    bookmark_interval: float = 5.0  # seconds between BOOKMARK events on watches that asked for them
    _builtin_reactions: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = ObjectStore(self.catalogue)
        self.fallback["get", re.compile(r"/version/")] << self._serve_server_version
        self.fallback["get /openapi/v2"] << self._serve_openapi
        self.fallback[is_object_request] << (self._serve_object)
        self._builtin_reactions = len(self._payloads)

    async def _dispatch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """Reactions a test added (injected faults) first, then the emulator's own routes.

        KMock 0.8 matches a request by scanning the whole request log through every filter, which
        grows quadratically; reactions made of filters are checked against the one request instead,
        and only other shapes (slices, groups) go through KMock's own matching.
        """
        injected = self._payloads[self._builtin_reactions :]
        if any(_matches(reaction, self) is None for reaction in injected):
            return await self._handle(request)  # a reaction shape we cannot check per request
        for reaction in sorted(injected, key=lambda r: [-p for p in r.priorities], reverse=False):
            if not reaction._disabled.is_set() and _matches(reaction, self, request):
                try:
                    return await reaction(request)
                except ReactionMismatchError:  # depleted: KMock disables it and falls through
                    reaction._disabled.set()
        response = await self._route(request)
        return await response(request)

    async def _route(self, request: kmock.Request) -> Response:
        if is_object_request(request):
            return await self._serve_object(request)
        path = request.url.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if request.method.value != "GET":
            raise errors.no_such_path(path)
        if path == "/":
            payload = await self._serve_root(request)
        elif path == "/version":
            payload = await self._serve_server_version(request)
        elif path == "/openapi/v2":
            return await self._serve_openapi_response(request)
        elif path == "/api":
            payload = await self._serve_api(request)
        elif path == "/apis":
            payload = await self._serve_apis(request)
        elif parts[0] == "apis" and len(parts) == 2:
            payload = await self._serve_group(request)
        elif (parts[0] == "apis" and len(parts) == 3) or (parts[0] == "api" and len(parts) == 2):
            payload = await self._serve_version(request)
        else:
            raise errors.no_such_path(path)
        return self._ok(payload)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        try:
            request = parse_request(raw_request, body, len(self._requests))
        except errors.ApiError as e:
            return aiohttp.web.json_response(e.status_body(), status=e.code)
        self._requests.append(request)
        try:
            return await self._dispatch(request)
        except errors.ApiError as e:
            return aiohttp.web.json_response(e.status_body(), status=e.code)
        except kmock.KubernetesNotFoundError:
            error = errors.no_such_path(raw_request.path)
            return aiohttp.web.json_response(error.status_body(), status=error.code)
        except kmock.KubernetesError as e:
            error = errors.ApiError(e.status, (e.reason or "InternalError").replace(" ", ""), e.message or "")
            return aiohttp.web.json_response(error.status_body(), status=error.code)
        except Exception as e:
            logger.exception("The emulator failed on %s %s", raw_request.method, raw_request.path)
            error = errors.ApiError(500, "InternalError", f"emulator failure: {e!r}")
            return aiohttp.web.json_response(error.status_body(), status=500)

    # Discovery, served from the live catalogue (KMock's scaffold routes the URLs here).

    async def _serve_root(self, request: kmock.Request) -> kmock.Payload:
        return discovery.root_paths(self.catalogue)

    async def _serve_server_version(self, request: kmock.Request) -> kmock.Payload:
        return discovery.server_version()

    async def _serve_api(self, request: kmock.Request) -> kmock.Payload:
        return discovery.core_versions(request.url.host or "127.0.0.1", request.url.port)

    async def _serve_apis(self, request: kmock.Request) -> kmock.Payload:
        return discovery.group_list(self.catalogue)

    async def _serve_group(self, request: kmock.Request) -> kmock.Payload:
        return discovery.group(self.catalogue, request.url.path.strip("/").split("/")[-1])

    async def _serve_version(self, request: kmock.Request) -> kmock.Payload:
        assert request.resource is not None
        return discovery.resource_list(
            self.catalogue, request.resource.group or "", request.resource.version or ""
        )

    async def _serve_openapi(self, request: kmock.Request) -> kmock.Payload:
        return await self._serve_openapi_response(request)

    async def _serve_openapi_response(self, request: kmock.Request) -> Response:
        """An empty OpenAPI v2 document; kubectl asks for protobuf, where empty bytes are a valid one."""
        if "protobuf" in request.headers.get("Accept", ""):
            return Response(status=200, headers={"Content-Type": "application/octet-stream"}, payload=b"")
        return self._ok(discovery.openapi_v2())

    # Objects

    async def _serve_object(self, request: kmock.Request) -> Response:
        try:
            return self._respond(request)
        except errors.ApiError as e:
            logger.info("Refused %s %s: %s %s", request.method.value, request.url.path, e.code, e.message)
            return Response(status=e.code, headers=_JSON, payload=e.status_body())
        except SelectorError as e:
            error = errors.bad_request(str(e))
            return Response(status=error.code, headers=_JSON, payload=error.status_body())

    def _respond(self, request: kmock.Request) -> Response:
        assert request.resource is not None
        assert request.resource.plural is not None
        group, version, plural = (
            request.resource.group or "",
            request.resource.version or "",
            request.resource.plural,
        )
        rtype = self.catalogue.find(group, version, plural)
        if rtype is None:
            raise errors.no_such_path(str(request.url.path))
        if request.namespace is not None and not rtype.namespaced:
            raise errors.no_such_path(str(request.url.path))
        method, name, namespace = request.method.value, request.name, request.namespace
        if "dryRun" in request.params and method in ("POST", "PUT", "PATCH", "DELETE"):
            raise errors.bad_request("the emulator does not support dryRun: it would have written for real")
        if request.action == kmock.action.WATCH:
            return self._watch(rtype, request)
        if method == "GET" and name is None:
            return self._ok(self._list(rtype, request))
        if name is None and method == "POST":
            return self._ok(self.store.create(rtype, namespace, request.data), status=201)
        if name is None and method == "DELETE":
            return self._ok(self._delete_collection(rtype, request))
        if name is None:
            raise errors.ApiError(405, "MethodNotAllowed", f"{method} is not supported on collections")
        if request.subresource == "scale":
            return self._ok(self._scale(rtype, request, namespace, name))
        if method == "GET":
            obj = self._subresource_view(self.store.get(rtype, namespace, name), request.subresource)
            if "as=Table" in request.headers.get("Accept", ""):
                return self._ok(
                    tables.table(rtype, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
                )
            return self._ok(obj)
        if method == "PUT":
            return self._ok(self._put(rtype, request, namespace, name))
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == patching.APPLY_PATCH:
                return self._ok(self._apply(rtype, request, namespace, name))
            return self._ok(
                self.store.patch(
                    rtype,
                    namespace,
                    name,
                    content_type or patching.MERGE_PATCH,
                    request.data,
                    request.subresource,
                )
            )
        if method == "DELETE":
            options = request.data if isinstance(request.data, dict) else {}
            if "propagationPolicy" in request.params:
                options = {**options, "propagationPolicy": request.params["propagationPolicy"]}
            return self._ok(self.store.delete(rtype, namespace, name, options))
        raise errors.ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _ok(self, payload: Any, status: int = 200) -> Response:
        return Response(status=status, headers=_JSON, payload=payload)

    def _subresource_view(self, obj: dict[str, Any], subresource: str | None) -> dict[str, Any]:
        if subresource in (None, "status"):
            return obj
        raise errors.no_such_path(subresource)

    def _scale(self, rtype: ResourceType, request: kmock.Request, namespace: str | None, name: str) -> Any:
        current = scaling.scale_view(rtype, self.store.get(rtype, namespace, name))
        method = request.method.value
        if method == "GET":
            return current
        if method not in ("PUT", "PATCH"):
            raise errors.ApiError(405, "MethodNotAllowed", f"{method} is not supported on scale")
        content_type = (
            request.headers.get("Content-Type", "").split(";")[0].strip() if method == "PATCH" else None
        )
        try:
            patch = scaling.replicas_patch(rtype, current, content_type, request.data)
        except patching.PatchError as e:
            raise errors.bad_request(str(e)) from e
        obj = self.store.patch(rtype, namespace, name, patching.MERGE_PATCH, patch, None)
        return scaling.scale_view(rtype, obj)

    def _put(self, rtype: ResourceType, request: kmock.Request, namespace: str | None, name: str) -> Any:
        return self.store.replace(rtype, namespace, name, request.data, request.subresource)

    def _apply(self, rtype: ResourceType, request: kmock.Request, namespace: str | None, name: str) -> Any:
        """Server-side apply, approximated: create when missing, else merge the applied fields."""
        try:
            self.store.get(rtype, namespace, name)
        except errors.ApiError:
            return self.store.create(rtype, namespace, request.data)
        return self.store.patch(
            rtype, namespace, name, patching.MERGE_PATCH, request.data, request.subresource
        )

    def _list(self, rtype: ResourceType, request: kmock.Request) -> dict[str, Any]:
        matcher = object_matcher(request.params.get("labelSelector"), request.params.get("fieldSelector"))
        items = self.store.list_objects(rtype, request.namespace, matcher)
        accept = request.headers.get("Accept", "")
        return listing.list_response(rtype, items, self.store.resource_version, request.params, accept)

    def _delete_collection(self, rtype: ResourceType, request: kmock.Request) -> dict[str, Any]:
        matcher = object_matcher(request.params.get("labelSelector"), request.params.get("fieldSelector"))
        deleted = []
        for obj in self.store.list_objects(rtype, request.namespace, matcher):
            meta = obj["metadata"]
            deleted.append(self.store.delete(rtype, meta.get("namespace"), meta["name"]))
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": deleted,
        }

    def _watch(self, rtype: ResourceType, request: kmock.Request) -> Response:
        params = request.params
        matcher = object_matcher(
            params.get("labelSelector"),
            params.get("fieldSelector") if not request.name else f"metadata.name={request.name}",
        )
        since = params.get("resourceVersion")
        try:
            subscription, backlog = self.store.subscribe(rtype, request.namespace, matcher, since)
        except errors.ApiError as e:
            error_event = {"type": "ERROR", "object": e.status_body()}
            return Response(status=200, headers=_JSON, payload=watching.single_event(error_event))
        stream = watching.WatchStream(
            rtype=rtype,
            subscription=subscription,
            backlog=backlog,
            current_version=lambda: self.store.resource_version,
            unsubscribe=self.store.changes.unsubscribe,
            timeout=float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None,
            bookmarks=params.get("allowWatchBookmarks") == "true",
            bookmark_interval=self.bookmark_interval,
            initial_end=params.get("sendInitialEvents") == "true" and since in (None, "", "0"),
        )
        return Response(status=200, headers=_JSON, payload=stream.events())

    def inject_fault(
        self,
        *criteria: Any,
        status: int = 500,
        reason: str = "InternalError",
        message: str = "injected by the test",
        times: int | None = None,
    ) -> None:
        """Answer requests matching KMock `criteria` with a Status error, `times` times (None: always).

        Runs on the emulator's loop (use `KubeApi.inject_fault`). Criteria are KMock's: `"patch"`,
        `kmock.resource("apps/v1/deployments")`, `kmock.name("web")`, `kmock.subresource("status")`...
        """
        body = errors.ApiError(status, reason, message).status_body()
        remaining = [times]

        def fault(request: kmock.Request) -> Any:
            if remaining[0] is not None:
                if remaining[0] <= 0:
                    return StopIteration  # KMock: this reaction is depleted, fall through to the routes
                remaining[0] -= 1
            return Response(status=status, headers=_JSON, payload=body)

        self[criteria] << fault

    def clear_faults(self) -> None:
        """Remove every reaction a test added; the emulator behaves normally again."""
        del self._payloads[self._builtin_reactions :]

    def close_watches(self) -> None:
        """End every open watch stream cleanly (the emulator is stopping)."""
        self.store.changes.close()


def _matches(view: Any, root: Any, request: kmock.Request | None = None) -> bool | None:
    """Whether a reaction made of filters over `root` accepts one request, without scanning KMock's
    request log (None: a view other than filters and priorities, which only KMock can check)."""
    node = view._source if isinstance(view, kmock.Reaction) else view
    while node is not root:
        if isinstance(node, kmock.Filter):
            if request is not None and not node.criteria(request):
                return False
        elif not isinstance(node, kmock.Priority):
            return None
        node = node._source
    return True
