"""Turning HTTP requests into Kubernetes intents: resource, namespace, name, subresource, verb, body.

KMock 0.8's own parser cannot read `/api/v1/namespaces` (kopf's first request), so the emulator
parses paths itself and hands KMock a fully populated `kmock.Request` for its log and reactions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock
import yaml

from tests.kube import errors, patching, protobuf


@dataclass(frozen=True)
class ApiPath:
    """A parsed `/api/v1/...` or `/apis/group/version/...` path."""

    group: str
    version: str
    namespace: str | None = None
    plural: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_api_path(path: str) -> ApiPath | None:
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if (
        rest
        and rest[0] == "namespaces"
        and len(rest) >= 3
        and not (group == "" and rest[2] in ("status", "finalize"))
    ):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return ApiPath(group, version, namespace, plural, name, subresource)


def action(method: str, path: ApiPath, query: dict[str, str]) -> kmock.action | None:
    if path.plural is None:
        return None
    if method == "GET" and query.get("watch") in ("true", "1"):
        return kmock.action.WATCH
    if method == "GET":
        return kmock.action.FETCH if path.name else kmock.action.LIST
    if method == "POST":
        return kmock.action.CREATE
    if method in ("PUT", "PATCH"):
        return kmock.action.UPDATE
    if method == "DELETE":
        return kmock.action.DELETE
    return None


def decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "protobuf" in content_type:
        return protobuf.decode(raw)
    if "cbor" in content_type:
        raise errors.ApiError(
            415, "UnsupportedMediaType", f"the emulator speaks JSON and YAML only, not {content_type}"
        )
    try:
        if content_type == patching.APPLY_PATCH or "yaml" in content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"the body of the request could not be decoded: {e}") from e


def parse_request(raw_request: aiohttp.web.BaseRequest, body: bytes, request_id: int) -> kmock.Request:
    content_type = raw_request.headers.get("Content-Type", "").split(";")[0].strip()
    data = decode_body(body, content_type)
    path = parse_api_path(raw_request.path)
    query = dict(raw_request.query)
    return kmock.Request(
        id=request_id,
        raw_request=raw_request,
        url=raw_request.url,
        method=raw_request.method,
        params=query,
        headers=dict(raw_request.headers),
        cookies=dict(raw_request.cookies),
        body=body,
        text=body.decode(errors="replace"),
        data=data,
        action=action(raw_request.method, path, query) if path else None,
        resource=kmock.resource(group=path.group, version=path.version, plural=path.plural) if path else None,
        namespace=path.namespace if path else None,
        name=path.name if path else None,
        subresource=path.subresource if path else None,
    )


def is_object_request(request: kmock.Request) -> bool:
    return request.resource is not None and bool(request.resource.plural)
