"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: PostgreSQL, Redis, schema, and
a Memory Bank whose collections fit its embedding model).

Kubernetes restarts a pod whose liveness fails and stops routing to one whose readiness fails, so
liveness never touches a dependency: a PostgreSQL outage must not restart every Nexus at once.

The ``memory`` check reads what the worker found when it last started (a collection made for another
embedding dimension fails it, naming both dimensions and the fix); until a worker has started it is
ok, and it changes only when a worker starts again, so the probe never flaps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from oblivion_nexus.api.deps import ResourcesDep
from oblivion_nexus.errors import NexusError
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.memory.readiness import DimensionCheck, readiness_message
from oblivion_nexus.stores.db import MIGRATE_HINT, schema_status

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# Below the default 1 s of a Kubernetes probe would be too tight on a loaded node; above it the probe
# itself times out first. Two seconds fits a probe configured with timeoutSeconds ≥ 3.
_CHECK_TIMEOUT_SECONDS = 2.0
_UNKNOWN = "unknown: Redis is unreachable"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _postgres(resources: Resources) -> tuple[str, str]:
    status = await schema_status(resources.engine)
    if not status.at_head:
        return "schema", f"at revision {status.current}, needs {status.head}: {MIGRATE_HINT}"
    return "postgres", "ok"


async def _redis(resources: Resources) -> tuple[str, str]:
    await resources.redis.ping()
    return "redis", "ok"


async def _memory(resources: Resources) -> tuple[str, str]:
    check = DimensionCheck(resources.redis, resources.settings.redis.prefix)
    try:
        mismatches = await check.mismatches()
    except (RedisError, OSError):
        return "memory", _UNKNOWN  # the redis check already fails the probe, and names the cause
    return "memory", readiness_message(mismatches)


async def _checked(
    name: str, check: Callable[[Resources], Awaitable[tuple[str, str]]], r: Resources
) -> tuple[str, str]:
    try:
        return await asyncio.wait_for(check(r), _CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return name, f"no answer within {_CHECK_TIMEOUT_SECONDS:g} s"
    except (NexusError, RedisError, OSError, ValueError) as e:
        return name, f"unreachable: {type(e).__name__}"


# What the API cannot serve without: a failure here is a 503, which takes the replica out of its
# Service. A Memory Bank that cannot work (an embedding model that does not fit its collections)
# is reported as "degraded" with a 200: webhooks, the agent gateway and the task flow still work,
# and taking every replica out of the Service would stop them too.
_SERVING = frozenset({"postgres", "redis", "schema"})


@router.get("/readyz")
async def readyz(resources: ResourcesDep) -> JSONResponse:
    results = await asyncio.gather(
        _checked("postgres", _postgres, resources),
        _checked("redis", _redis, resources),
        _checked("memory", _memory, resources),
    )
    checks = dict(results)
    failed = sorted(k for k, v in checks.items() if v not in ("ok", _UNKNOWN))
    if any(k in _SERVING for k in failed):
        logger.warning("not ready: %s", "; ".join(f"{k}: {checks[k]}" for k in failed))
        return JSONResponse({"status": "unavailable", "failed": failed, "checks": checks}, status_code=503)
    if failed:  # the Memory Bank is broken, the rest serves: stay in the Service, say what is wrong
        logger.warning("ready but degraded: %s", "; ".join(f"{k}: {checks[k]}" for k in failed))
        return JSONResponse({"status": "degraded", "failed": failed, "checks": checks})
    return JSONResponse({"status": "ready", "checks": checks})
