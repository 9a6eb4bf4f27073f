"""List responses: `kind: XList` with the collection's resourceVersion, pagination and `kubectl` tables.

kopf lists then watches from the list's resourceVersion; kubectl pages with `limit`/`continue` and
asks for `as=Table`. The `continue` token is opaque to clients, as on the real server.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from tests.kube import errors, tables
from tests.kube.resources import ResourceType


def sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def decode_continue(token: str | None) -> tuple[str, str] | None:
    """The (namespace, name) a paginated list resumes after, from the opaque `continue` token."""
    if not token:
        return None
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["after"]
        return str(namespace), str(name)
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise errors.bad_request(f"invalid continue token: {e}") from e


def encode_continue(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": list(after)}).encode()).decode()


def list_response(
    rtype: ResourceType,
    items: list[dict[str, Any]],
    resource_version: int,
    params: Mapping[str, str],
    accept: str,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
    after = decode_continue(params.get("continue"))
    if after:
        items = [obj for obj in items if sort_key(obj) > after]
    try:
        limit = int(params.get("limit") or 0)
    except ValueError:
        raise errors.bad_request(f"invalid limit {params.get('limit')!r}") from None
    if limit and len(items) > limit:
        metadata["remainingItemCount"] = len(items) - limit
        items = items[:limit]
        metadata["continue"] = encode_continue(sort_key(items[-1]))
    if "as=Table" in accept:
        return tables.table(rtype, items, metadata)
    return {
        "kind": f"{rtype.kind}List",
        "apiVersion": rtype.api_version,
        "metadata": metadata,
        "items": items,
    }
