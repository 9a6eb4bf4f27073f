"""Server-side `Table` rendering, so `kubectl get` against the emulator prints a CRD's printer columns.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io`; the real server answers with the
CRD's `additionalPrinterColumns` evaluated by a JSONPath subset (`.a.b`, `[0]`, `[*]`,
`[?(@.type=="Ready")]`), which is all the project's CRDs use.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from tests.kube.resources import PrinterColumn, ResourceType

_TOKEN_RE = re.compile(
    r"\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)
_AGE = PrinterColumn(name="Age", type="date", json_path=".metadata.creationTimestamp")


def _field_equals(item: Any, key: str, value: str) -> bool:
    found = evaluate(item, "." + key) if isinstance(item, dict) else []
    return bool(found) and str(found[0]) == value


def evaluate(obj: Any, path: str) -> list[Any]:
    """All values `path` selects in `obj`; unknown syntax selects nothing."""
    nodes: list[Any] = [obj]
    position = 0
    path = path.strip().lstrip("{").rstrip("}")
    while position < len(path):
        match = _TOKEN_RE.match(path, position)
        if not match:
            return []
        position = match.end()
        key, index, filter_key, filter_value = match.groups()
        selected: list[Any] = []
        for node in nodes:
            if key is not None and isinstance(node, dict) and key in node:
                selected.append(node[key])
            elif index == "*" and isinstance(node, list):
                selected.extend(node)
            elif index is not None and index != "*" and isinstance(node, list) and int(index) < len(node):
                selected.append(node[int(index)])
            elif filter_key is not None and isinstance(node, list):
                selected.extend(item for item in node if _field_equals(item, filter_key, filter_value))
        nodes = selected
    return nodes


def age(timestamp: str, now: datetime.datetime | None = None) -> str:
    """`5s`, `3m`, `2h`, `4d`: how kubectl shows a `date` column, computed server-side."""
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return timestamp
    seconds = max(0, int(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cell(obj: dict[str, Any], column: PrinterColumn) -> Any:
    values = evaluate(obj, column.json_path)
    if not values:
        return None
    if column.type == "date" and len(values) == 1 and isinstance(values[0], str):
        return age(values[0])
    if len(values) == 1:
        return values[0]
    return ",".join(str(v) for v in values)


def table(rtype: ResourceType, items: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    columns = list(rtype.printer_columns) or [_AGE]
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [
        {"name": c.name, "type": c.type, "format": "", "description": c.name, "priority": c.priority}
        for c in columns
    ]
    rows = [
        {
            "cells": [obj["metadata"]["name"], *(_cell(obj, c) for c in columns)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }
