"""The model gateway's event stream response: every event read, whether the agent stays or goes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.types import Message

from oblivion_nexus.api.llm import EventStream

EVENTS = [b"data: {}\n\n", b"data: {}\n\n", b'data: {"usage":{}}\n\n', b"data: [DONE]\n\n"]


class Events:
    def __init__(self) -> None:
        self.read = 0

    async def __call__(self) -> AsyncIterator[bytes]:
        for event in EVENTS:
            self.read += 1
            yield event


async def receive() -> Message:
    raise AssertionError("the response never waits on the agent's messages")


async def test_each_event_is_sent_as_it_comes_then_the_end() -> None:
    events, sent = Events(), []

    async def send(message: Message) -> None:
        sent.append(message)

    await EventStream(events())({"type": "http"}, receive, send)

    assert sent[0]["type"] == "http.response.start"
    assert (sent[0]["status"], dict(sent[0]["headers"])[b"content-type"]) == (
        200,
        b"text/event-stream; charset=utf-8",
    )
    assert [m["body"] for m in sent[1:-1]] == EVENTS
    assert all(m["more_body"] for m in sent[1:-1])
    assert (sent[-1]["body"], sent[-1]["more_body"]) == (b"", False)


async def test_when_the_agent_has_gone_the_events_are_still_read_to_their_end() -> None:
    # A server on ASGI 2.4 raises OSError on a send to a closed connection (uvicorn's HTTP/1.1 sends
    # nothing and returns); either way the usage, which comes last, must still be read.
    events, sent = Events(), []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection closed")
        sent.append(message)

    await EventStream(events())({"type": "http"}, receive, send)

    assert events.read == len(EVENTS)
    assert [m["type"] for m in sent] == ["http.response.start"]
