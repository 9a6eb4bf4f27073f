"""CRD validation rules (`x-kubernetes-validations`, CEL), evaluated as the API server does on writes.

Cross-field rules ("exactly one of channelName or channelId", "namespace cannot change") live only
in CEL, so without them the emulator would accept objects a cluster refuses. Rules run with the
cel-python interpreter; transition rules (`oldSelf`) run on updates only; a rule the interpreter
cannot evaluate (a Kubernetes-only CEL library function) is skipped rather than guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

logger = logging.getLogger(__name__)

_ANY = "*"  # a path step matching every list item or map value


@dataclass(frozen=True)
class Rule:
    path: tuple[str, ...]  # data path from the object root; `*` for list items and map values
    expression: str
    message: str
    program: Any

    @property
    def transition(self) -> bool:
        return "oldSelf" in self.expression


def _compile(environment: Any, expression: str) -> Any:
    return environment.program(environment.compile(expression))


def collect_rules(schema: Mapping[str, Any]) -> list[Rule]:
    """Every rule of a structural schema, with the data path it applies to."""
    environment = celpy.Environment()
    rules: list[Rule] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for spec in node.get("x-kubernetes-validations") or ():
            expression = spec.get("rule", "")
            try:
                program = _compile(environment, expression)
            except Exception as e:  # an unsupported construct: the rule is skipped, not guessed
                logger.debug("Skipping the CEL rule %r: %r", expression, e)
                continue
            message = spec.get("message") or f"failed rule: {expression}"
            rules.append(Rule(path, expression, " ".join(message.split()), program))
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, (*path, name))
        if isinstance(node.get("items"), Mapping):
            walk(node["items"], (*path, _ANY))
        if isinstance(node.get("additionalProperties"), Mapping):
            walk(node["additionalProperties"], (*path, _ANY))

    walk(schema, ())
    return rules


def _values(obj: Any, path: tuple[str, ...], where: str = "") -> Iterator[tuple[str, Any]]:
    if not path:
        yield where, obj
        return
    step, rest = path[0], path[1:]
    if step == _ANY and isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from _values(item, rest, f"{where}[{index}]")
    elif step == _ANY and isinstance(obj, dict):
        for key, item in obj.items():
            yield from _values(item, rest, f"{where}[{key}]")
    elif isinstance(obj, dict) and step in obj:
        yield from _values(obj[step], rest, f"{where}.{step}" if where else step)


def _value_at(obj: Any, where: str, path: tuple[str, ...]) -> Any:
    for found_where, value in _values(obj, path):
        if found_where == where:
            return value
    return None


def violations(rules: list[Rule], obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """Messages of the rules `obj` breaks; values unchanged from `old` are not re-checked (ratcheting)."""
    problems: list[str] = []
    for rule in rules:
        for where, value in _values(obj, rule.path):
            previous = _value_at(old, where, rule.path) if old is not None else None
            if old is not None and previous == value:
                continue
            if rule.transition and (previous is None or _ANY in rule.path):
                continue
            activation = {"self": json_to_cel(value)}
            if rule.transition:
                activation["oldSelf"] = json_to_cel(previous)
            try:
                result = rule.program.evaluate(activation)
            except Exception as e:  # an evaluation the interpreter cannot do: not a verdict
                logger.debug("Could not evaluate the CEL rule %r: %r", rule.expression, e)
                continue
            if isinstance(result, CELEvalError):
                logger.debug("Could not evaluate the CEL rule %r: %r", rule.expression, result)
                continue
            if not bool(result):
                problems.append(f'{where or "<root>"}: Invalid value: "object": {rule.message}')
    return problems
