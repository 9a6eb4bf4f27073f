"""Slack's message text format ("mrkdwn") to and from plain text, for mirroring replies.

A ClickUp comment posted into a thread must not turn ``<b>`` or ``a < b`` into Slack markup, so
``&``, ``<`` and ``>`` are escaped; a Slack reply mirrored into ClickUp must read naturally, so
``<@U123>`` becomes ``@name``, ``<https://x|label>`` becomes ``label (https://x)`` and entities are
decoded. See https://docs.slack.dev/messaging/formatting-message-text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

logger = logging.getLogger(__name__)

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
# Slack escapes literal angle brackets, so <…> is always markup; "< x >" with spaces never is.
_ANGLE = re.compile(r"<([^<>\s][^<>]*)>")
_SPECIAL = {"!here": "@here", "!channel": "@channel", "!everyone": "@everyone"}


def escape_text(text: str) -> str:
    """Plain text made safe to send as Slack message text (only ``&``, ``<``, ``>`` are special)."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape_text(text: str) -> str:
    for raw, escaped in reversed(_ESCAPES):
        text = text.replace(escaped, raw)
    return text


def _render(inner: str, user_names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = user_names.get(target[1:]) or label or target[1:]
        return f"@{name}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        special = target.split("^", 1)[0]
        if special.startswith("!subteam"):
            return label or "@group"
        if special.startswith("!date"):
            return label or target
        return _SPECIAL.get(special, label or target)
    target = unescape_text(target)
    label = unescape_text(label)
    if label and label not in (target, target.removeprefix("mailto:")):
        return f"{label} ({target})"
    return target.removeprefix("mailto:")


def to_plain_text(text: str, user_names: Mapping[str, str] | None = None) -> str:
    """Slack message text as a person would read it; ``user_names`` maps user ids to display names."""
    names = user_names or {}
    parts: list[str] = []
    position = 0
    for match in _ANGLE.finditer(text):
        parts.append(unescape_text(text[position : match.start()]))
        parts.append(_render(match.group(1), names))
        position = match.end()
    parts.append(unescape_text(text[position:]))
    return "".join(parts)
