"""Who a piece of text is addressing: agent aliases in ClickUp tasks and user mentions in Slack.

A task reaches an agent because someone wrote ``@ai-backend`` in its name or description, so the
matching must not fire on e-mail addresses (``ops@ai-backend.io``) or on longer names that merely
start with an alias (``@ai-backend-v2``). Matching cost must not grow with the number of aliases a
platform registers: one precompiled scan finds every ``@token`` and a dictionary resolves it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from oblivion_nexus.errors import NexusError

logger = logging.getLogger(__name__)

# An alias starts with a word character and may continue with word characters, '-', '_' or '.'.
_ALIAS_RE = re.compile(r"[^\W][\w.\-]*", re.UNICODE)
# '@' must not follow a word character, '.', '-' or another '@' (that is an e-mail or a handle
# inside a longer token); the token runs over every character an alias may contain.
_AT_TOKEN_RE = re.compile(r"(?<![\w@.\-])@([^\W][\w.\-]*)", re.UNICODE)
# Slack encodes a user mention as <@U123ABC> or, in older payloads, <@U123ABC|name>.
_SLACK_USER_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
# Rich-text blocks nest shallowly in practice; this bounds work on hostile payloads.
_MAX_BLOCK_DEPTH = 32


class InvalidAlias(NexusError):
    """An agent alias cannot be matched in text (empty, or characters an alias may not contain)."""

    def __init__(self, alias: str) -> None:
        super().__init__(f"invalid agent alias {alias!r}: use letters, digits, '-', '_' or '.'")
        self.alias = alias


def normalise_alias(alias: str) -> str:
    """The comparable form of an alias: without a leading '@', case-folded.

    Raises :class:`InvalidAlias` for anything that could never be written as ``@alias`` in text.
    """
    bare = alias.strip().removeprefix("@")
    if not _ALIAS_RE.fullmatch(bare):
        raise InvalidAlias(alias)
    return bare.casefold()


class AliasMatcher:
    """Finds which of a fixed set of aliases a text mentions as ``@alias``.

    Built once when the registry changes, then used for every task: the cost of :meth:`find` is linear
    in the length of the text and independent of how many aliases exist.
    """

    def __init__(self, aliases: Iterable[str]) -> None:
        self._by_key: dict[str, str] = {}
        for alias in aliases:
            try:
                key = normalise_alias(alias)
            except InvalidAlias:
                # One bad registry entry must not stop every other agent from being found.
                logger.warning("ignoring agent alias %r: it can never be written as @alias", alias)
                continue
            self._by_key.setdefault(key, alias.strip().removeprefix("@"))

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, *texts: str | None) -> list[str]:
        """Aliases mentioned in ``texts``, as registered, in order of first mention, without repeats."""
        found: dict[str, None] = {}
        for text in texts:
            if not text:
                continue
            for match in _AT_TOKEN_RE.finditer(text):
                token = match.group(1).casefold()
                # A trailing '.' usually ends a sentence ("ask @ai-backend.") rather than the alias,
                # unless an alias really ends with one.
                alias = self._by_key.get(token) or self._by_key.get(token.rstrip("."))
                if alias is not None:
                    found.setdefault(alias, None)
        return list(found)


def slack_text_user_mentions(text: str | None) -> list[str]:
    """User ids mentioned as ``<@U…>`` in Slack message text, in order, without repeats."""
    if not text:
        return []
    return list(dict.fromkeys(_SLACK_USER_MENTION_RE.findall(text)))


def _walk_user_elements(node: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_BLOCK_DEPTH:
        return
    if isinstance(node, Mapping):
        user_id = node.get("user_id")
        if node.get("type") == "user" and isinstance(user_id, str) and user_id:
            yield user_id
        for key in ("elements", "blocks"):
            yield from _walk_user_elements(node.get(key), depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_user_elements(item, depth + 1)


def slack_block_user_mentions(blocks: Any) -> list[str]:
    """User ids of ``{"type": "user", "user_id": …}`` elements inside rich-text ``blocks``.

    Accepts whatever a payload carries (missing, ``None`` or oddly shaped blocks yield nothing).
    """
    return list(dict.fromkeys(_walk_user_elements(blocks, 0)))


def slack_user_mentions(text: str | None, blocks: Any = None) -> list[str]:
    """Every user id a Slack message mentions, from its text and its rich-text blocks."""
    return list(dict.fromkeys([*slack_text_user_mentions(text), *slack_block_user_mentions(blocks)]))
