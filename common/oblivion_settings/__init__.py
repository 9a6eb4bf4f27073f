"""What every Oblivion component shares about its settings: how a bad one is told to a person.

The operator, Nexus and the agent runtime each read ``OBLIVION_*`` variables into pydantic models and
must stop at start with one message naming every missing or malformed variable, never echoing a
value (it may be a secret). This package imports nothing of Oblivion, so each component may use it
without importing another.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["PREFIX", "describe_invalid_settings", "variable_name"]

PREFIX = "OBLIVION_"


def variable_name(loc: Sequence[int | str], prefix: str = PREFIX) -> str:
    """The environment variable an error location stands for.

    A flat settings class validates fields by name (``("nexus_url",)`` is ``OBLIVION_NEXUS_URL``);
    a sectioned one validates by the variables' own names (``("slack", "OBLIVION_SLACK_BOT_TOKEN")``),
    which are shown as they are. Deeper parts (a key inside a JSON object) belong to the same variable.
    """
    for part in loc:
        if isinstance(part, str) and part.upper().startswith(prefix):
            return part.upper()
    return f"{prefix}{loc[0]}".upper()


def _problem(error: dict[str, object], prefix: str) -> str:
    message = str(error.get("msg", ""))
    loc = error.get("loc") or ()
    if not isinstance(loc, tuple) or not loc:
        # a rule spanning several variables names them itself
        return message.removeprefix("Value error, ")
    name = variable_name(loc, prefix)
    return f"{name}: {'is not set' if error.get('type') == 'missing' else message}"


def describe_invalid_settings(error: ValidationError, component: str, prefix: str = PREFIX) -> str:
    """One message naming every bad variable of ``component``, one per line; input values are left out.

    pydantic's own text repeats each input value; only the location, type and message are used here.
    """
    problems = [_problem(dict(e), prefix) for e in error.errors(include_url=False, include_input=False)]
    return f"invalid {component} settings:\n  " + "\n  ".join(problems)
