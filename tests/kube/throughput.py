"""The emulator's own request rate, measured in the caller's run: the floor an operator benchmark
compares its reconciles per second against (no operator can be faster than the API it talks to).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import aiohttp

from tests.kube.api import KubeApi


@dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _measure(url: str, namespace: str, objects: int, concurrency: int) -> Throughput:
    base = f"{url}/api/v1/namespaces/{namespace}/configmaps"
    names = [f"throughput-{uuid.uuid4().hex[:8]}-{i}" for i in range(objects)]
    gate = asyncio.Semaphore(concurrency)
    merge = {"Content-Type": "application/merge-patch+json"}

    async def lifecycle(session: aiohttp.ClientSession, name: str) -> int:
        async with gate:
            steps = (
                session.post(base, json={"metadata": {"name": name}, "data": {"step": "0"}}),
                session.get(f"{base}/{name}"),
                session.patch(f"{base}/{name}", json={"data": {"step": "1"}}, headers=merge),
                session.delete(f"{base}/{name}"),
            )
            for step in steps:
                async with step as response:
                    response.raise_for_status()
            return len(steps)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        counts = await asyncio.gather(*(lifecycle(session, name) for name in names))
        return Throughput(requests=sum(counts), seconds=time.perf_counter() - started)


def measure_throughput(
    kube_api: KubeApi, *, objects: int = 500, concurrency: int = 16, namespace: str = "default"
) -> Throughput:
    """Create, read, patch and delete `objects` ConfigMaps over HTTP; returns requests per second."""
    return asyncio.run(_measure(kube_api.url, namespace, objects, concurrency))
