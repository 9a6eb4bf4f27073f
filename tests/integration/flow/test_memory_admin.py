"""The Memory Bank's admin routes: a workgroup's status (points per project, the ingestion queue,
the last error) and forgetting everything a person wrote."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from oblivion_nexus.worker import running_worker
from tests.secret_logs import SecretRegistry
from tests.support.memory import build_memory_world, found_texts, search
from tests.support.taskflow import WORKGROUP, FlowStack
from tests.support.waiting import eventually


async def test_status_counts_points_per_project_and_forgetting_an_author_removes_their_words(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    admin = stack.nexus.admin_headers()
    base = f"{stack.nexus.url}/internal/v1/workgroups/{WORKGROUP}/memory"
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "The release train leaves every Tuesday")
        await world.say(stack.channel_id, "Hotfixes skip the train", user="U0SECOND")
        await world.say(world.billing_channel, "Billing releases on Thursdays")

        async def counted() -> bool:
            answer = await stack.http.get(base, headers=admin)
            assert answer.status_code == 200, answer.text
            projects = answer.json()["projects"]
            return bool(projects["auth"]["points"] == 2 and projects["billing"]["points"] == 1)

        await eventually(counted, what="three points counted in two projects")
        status = (await stack.http.get(base, headers=admin)).json()
        assert status["projects"]["auth"]["collection"] == f"tenant_{WORKGROUP}"
        assert set(status["queue"]) >= {"waiting", "active", "delayed", "failed"}
        assert status["lastErrors"] == {}

        hits = (await search(world.auth_agent, "when does the release train leave?")).json()["hits"]
        author = next(h["author"] for h in hits if "Tuesday" in h["text"])
        forgotten = await stack.http.delete(f"{base}/authors/{quote(author)}", headers=admin)
        assert forgotten.status_code == 200, forgotten.text
        assert forgotten.json()["collections"] == [f"tenant_{WORKGROUP}"]
        texts = await found_texts(world.auth_agent, "release train hotfixes", limit=10)
        assert texts == ["Hotfixes skip the train"]

    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(base)).status_code == 401
    nobody = f"{stack.nexus.url}/internal/v1/workgroups/nobody/memory"
    for unknown in (
        await stack.http.get(nobody, headers=admin),
        await stack.http.delete(f"{nobody}/authors/Ada", headers=admin),
    ):
        assert (unknown.status_code, unknown.json()) == (
            404,
            {"detail": "workgroup nobody is not registered"},
        )


async def test_dropping_a_projects_memory_deletes_its_points_only(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    admin = stack.nexus.admin_headers()
    base = f"{stack.nexus.url}/internal/v1/workgroups/{WORKGROUP}"
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "Auth keeps its secrets in the vault")
        await world.say(world.billing_channel, "Billing keeps its secrets in the vault too")

        async def both() -> bool:
            answer = (await stack.http.get(f"{base}/memory", headers=admin)).json()["projects"]
            return bool(answer["auth"]["points"] == 1 and answer["billing"]["points"] == 1)

        await eventually(both, what="a point in each project")
        dropped = await stack.http.delete(f"{base}/projects/billing/memory", headers=admin)
        assert dropped.status_code == 200, dropped.text
        projects = (await stack.http.get(f"{base}/memory", headers=admin)).json()["projects"]
        assert (projects["auth"]["points"], projects["billing"]["points"]) == (1, 0)
        assert await found_texts(world.billing_agent, "where are the secrets?") == []
        unknown = await stack.http.delete(f"{base}/projects/nope/memory", headers=admin)
        assert unknown.status_code == 404
        assert unknown.json() == {"detail": f"project {WORKGROUP}/nope is not registered"}
