"""Access tokens in query strings are cut out of log records before any handler formats them."""

from __future__ import annotations

import logging

from oblivion_nexus.observability import REDACTED, access_tokens_redacted, redact_access_tokens


def test_only_the_access_token_value_is_replaced() -> None:
    line = "GET /v1/agents/connect?foo=1&access_token=eyJ.abc.def&bar=2 HTTP/1.1"
    assert (
        redact_access_tokens(line) == f"GET /v1/agents/connect?foo=1&access_token={REDACTED}&bar=2 HTTP/1.1"
    )


def test_uvicorn_handshake_lines_lose_the_token_while_redaction_is_installed(caplog) -> None:
    # The logger's own level and a handler on it: a server or logging setup earlier in the run may
    # have raised its level or stopped it propagating to the root logger caplog listens on.
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    try:
        with access_tokens_redacted():
            server_log.info(
                '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/v1/agents/connect?access_token=s3cr3t"
            )
    finally:
        server_log.removeHandler(caplog.handler)
    assert "s3cr3t" not in caplog.text
    assert f"access_token={REDACTED}" in caplog.text


def test_the_filter_is_removed_again_on_exit() -> None:
    with access_tokens_redacted():
        assert logging.getLogger("uvicorn.access").filters
    assert not logging.getLogger("uvicorn.access").filters
