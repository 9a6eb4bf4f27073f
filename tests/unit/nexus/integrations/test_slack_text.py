"""Slack message text to plain text and back, for mirroring between Slack and ClickUp."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oblivion_nexus.integrations.slack_text import escape_text, to_plain_text


def test_clickup_text_with_markup_characters_is_escaped_for_slack() -> None:
    assert escape_text("if a < b && c > d see <b>") == "if a &lt; b &amp;&amp; c &gt; d see &lt;b&gt;"


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        (
            "<@U0LAN0Z89> is it everything a river should be?",
            "@ai-backend is it everything a river should be?",
        ),
        ("ping <@U999|olduser>", "ping @olduser"),
        ("ping <@U404>", "ping @U404"),
        ("see <#C123ABC456|proj-login>", "see #proj-login"),
        ("<!here> deploy at 5", "@here deploy at 5"),
        (
            "docs: <https://example.com/a?b=1&amp;c=2|the docs>",
            "docs: the docs (https://example.com/a?b=1&c=2)",
        ),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:jane@example.com|jane@example.com>", "jane@example.com"),
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
        ("<!subteam^S123|@backend> please", "@backend please"),
        ("unbalanced < and > stay", "unbalanced < and > stay"),
    ],
)
def test_slack_text_reads_as_plain_text(slack: str, plain: str) -> None:
    assert to_plain_text(slack, {"U0LAN0Z89": "ai-backend"}) == plain


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(text=st.text(max_size=200))
def test_escaped_plain_text_comes_back_unchanged(text: str) -> None:
    assert to_plain_text(escape_text(text)) == text
