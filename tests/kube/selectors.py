"""Label and field selectors as the API server parses them for `?labelSelector=` and `?fieldSelector=`.

Operators narrow their lists and watches with selectors (kopf's `labels=` filters, the operator's
"children of this owner" lists); an emulator that ignored them would hide real bugs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.kube.errors import EmulatorError

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_./-]*)\s*$")


class SelectorError(EmulatorError, ValueError):
    """A selector the real API server would refuse with 400 BadRequest."""


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [t for t in (term.strip() for term in terms) if t]


def _label_term(term: str) -> Matcher:
    eq = _EQ_RE.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _SET_RE.match(term)
    if not match:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    negated, key, set_op, values_text = match.groups()
    if set_op:
        if negated:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if set_op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over an object's labels; an empty selector matches everything."""
    if not selector:
        return lambda labels: True
    terms = [_label_term(term) for term in _split_terms(selector)]
    return lambda labels: all(term(labels) for term in terms)


def _field_value(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_matcher(selector: str | None) -> Matcher:
    """A predicate over a whole object for `metadata.name=x,status.phase!=Active` style selectors."""
    if not selector:
        return lambda obj: True
    checks: list[Matcher] = []
    for term in _split_terms(selector):
        match = _EQ_RE.match(term)
        if not match:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = match.groups()

        def check(obj: Mapping[str, Any], path: str = path, op: str = op, value: str = value) -> bool:
            actual = _field_value(obj, path) or ""
            return actual != value if op == "!=" else actual == value

        checks.append(check)
    return lambda obj: all(check(obj) for check in checks)


def object_matcher(label_selector: str | None, field_selector: str | None) -> Matcher:
    """Both selectors of a list or watch request combined into one predicate over objects."""
    labels = label_matcher(label_selector)
    fields = field_matcher(field_selector)
    return lambda obj: labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj)
