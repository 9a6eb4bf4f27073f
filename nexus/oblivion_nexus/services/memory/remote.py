"""Searches (and counts and deletions) answered by the worker that owns the embedded engine, over
Redis request/reply.

The embedded engine (qdrant-edge) lets one process open a data directory, and that process is the
worker (it writes what it ingests). An API replica therefore cannot open it; it pushes the search
onto a Redis list and waits on a reply key of its own, for at most
``OBLIVION_MEMORY_SEARCH_TIMEOUT_SECONDS``. The worker pops requests, runs them with its bank and
pushes the answer. A request whose caller gave up is dropped unanswered; a reply nobody reads
expires. While it serves, the worker keeps a presence key alive, so with no worker running a search
is refused at once (503 naming the worker) instead of waiting out the timeout. The key outlives the
worker by a few seconds on purpose: a search during a worker's restart waits for the new one. With a Qdrant
server none of this runs: every API replica searches Qdrant itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.services.memory.errors import InvalidSearch, MemoryBankError, MemoryUnavailable
from oblivion_nexus.services.memory.search import Groups, Searcher, SearchRequest

logger = logging.getLogger(__name__)

# A reply nobody collects (its caller timed out) goes after this long.
_REPLY_TTL_SECONDS = 60
# How long the server blocks on the request list before looking at whether it should stop.
_POLL_SECONDS = 1
# Searches one worker runs at once; more wait in Redis.
_CONCURRENT_SEARCHES = 16
# The presence key lives this long after the server's last poll: a few polls, so a busy moment
# never reads as absent and a restart's gap is bridged, and a gone worker is noticed within seconds.
_PRESENCE_TTL_SECONDS = 5 * _POLL_SECONDS


def _wire(groups: Groups) -> dict[str, list[str]]:
    return {collection: list(projects) for collection, projects in groups.items()}


def request_key(prefix: str) -> str:
    return f"{prefix}:memory:search:requests"


def presence_key(prefix: str) -> str:
    return f"{prefix}:memory:search:server"


class RemoteSearcher:
    """:class:`~oblivion_nexus.services.memory.search.Searcher` through the worker (see the module).

    ``redis`` must be a client of its own: each search holds one connection while it blocks."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, timeout: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout = timeout

    async def search(self, groups: Groups, request: SearchRequest) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = await self._ask(
            {"op": "search", "groups": _wire(groups), "request": request.to_wire()}
        )
        return hits

    async def count(self, groups: Groups) -> dict[str, int]:
        counts: dict[str, int] = await self._ask({"op": "count", "groups": _wire(groups)})
        return counts

    async def forget_author(self, collections: list[str], author: str) -> None:
        await self._ask({"op": "forget_author", "collections": collections, "author": author})

    async def drop_project(self, collection: str, project: str) -> None:
        await self._ask({"op": "drop_project", "collection": collection, "project": project})

    async def _ask(self, message: dict[str, Any]) -> Any:
        reply = f"{self._prefix}:memory:search:reply:{uuid.uuid4().hex}"
        message = {**message, "reply": reply, "deadline": time.time() + self._timeout}
        try:
            if not await self._redis.exists(presence_key(self._prefix)):
                raise MemoryUnavailable(
                    "no worker is serving the Memory Bank (the embedded engine lives in `oblivion nexus "
                    "worker`): start one"
                )
            await self._redis.lpush(request_key(self._prefix), json.dumps(message))
            answer = await self._redis.blpop([reply], timeout=self._timeout)
        except (RedisError, OSError) as e:
            raise MemoryUnavailable(f"Redis did not take the search: {type(e).__name__}") from e
        if answer is None:
            raise MemoryUnavailable(
                f"the worker holding the memory engine did not answer within {self._timeout:g} s"
            )
        body = json.loads(answer[1])
        if "result" in body:
            return body["result"]
        if body.get("status") == InvalidSearch.status:
            raise InvalidSearch(str(body.get("detail")))
        raise MemoryUnavailable(str(body.get("detail") or "the Memory Bank cannot search right now"))


class SearchServer:
    """The worker's side: answers requests with ``searcher`` until the block of :meth:`running` ends."""

    def __init__(self, redis: aioredis.Redis, prefix: str, searcher: Searcher) -> None:
        self._redis = redis
        self._prefix = prefix
        self._searcher = searcher
        self._slots = asyncio.Semaphore(_CONCURRENT_SEARCHES)
        self._running: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        with contextlib.suppress(RedisError, OSError):  # present from the start, not from the first poll
            await self._redis.set(presence_key(self._prefix), "1", ex=_PRESENCE_TTL_SECONDS)
        task = asyncio.create_task(self._serve(), name="memory-search-server")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for pending in list(self._running):
                pending.cancel()

    async def _serve(self) -> None:
        key, present = request_key(self._prefix), presence_key(self._prefix)
        while True:
            await self._slots.acquire()
            try:
                await self._redis.set(present, "1", ex=_PRESENCE_TTL_SECONDS)
                popped = await self._redis.brpop([key], timeout=_POLL_SECONDS)
            except (RedisError, OSError) as e:
                self._slots.release()
                logger.warning("memory search server cannot read Redis: %s", type(e).__name__)
                await asyncio.sleep(_POLL_SECONDS)
                continue
            except BaseException:
                self._slots.release()
                raise
            if popped is None:
                self._slots.release()
                continue
            task = asyncio.create_task(self._answer(popped[1]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _answer(self, raw: bytes | str) -> None:
        try:
            body = await self._run(raw)
        finally:
            self._slots.release()
        if body is None:
            return
        reply, answer = body
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(reply, json.dumps(answer))
                pipe.expire(reply, _REPLY_TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as e:
            logger.warning("memory search answer lost: %s", type(e).__name__)

    async def _run(self, raw: bytes | str) -> tuple[str, dict[str, Any]] | None:
        try:
            message = json.loads(raw)
            reply = str(message["reply"])
            if float(message["deadline"]) < time.time():
                logger.info("memory search dropped: its caller gave up waiting")
                return None
            op = str(message.get("op", "search"))
            groups = {str(c): tuple(str(p) for p in ps) for c, ps in dict(message.get("groups", {})).items()}
            request = SearchRequest.from_wire(message["request"]) if op == "search" else None
        except (KeyError, TypeError, ValueError) as e:
            logger.error("malformed memory request dropped: %r", e)
            return None
        try:
            result: Any
            if request is not None:
                result = await self._searcher.search(groups, request)
            elif op == "count":
                result = await self._searcher.count(groups)
            elif op == "forget_author":
                collections = [str(c) for c in message["collections"]]
                await self._searcher.forget_author(collections, str(message["author"]))
                result = None
            elif op == "drop_project":
                await self._searcher.drop_project(str(message["collection"]), str(message["project"]))
                result = None
            else:
                logger.error("memory request of unknown kind %r dropped", op)
                return None
            return reply, {"result": result}
        except MemoryBankError as e:
            return reply, {"status": e.status, "detail": e.detail}
        except Exception as e:  # the caller gets a 503 now rather than after its timeout
            logger.exception("memory search failed")
            return reply, {"status": MemoryUnavailable.status, "detail": f"search failed: {type(e).__name__}"}
