"""The `github` tool's actions against a fake GitHub that speaks the REST API's shapes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from oblivion_nexus.integrations.github import (
    GitHubApiError,
    GitHubAuthError,
    GitHubClient,
    GitHubRateLimited,
    GitHubUnavailable,
)
from oblivion_nexus.services.tools.github_actions import ACTIONS, MAX_LOG_BYTES
from tests.fakes.github import FakeGitHub
from tests.support.servers import LoopbackServer

REPO = "acme/api"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO, {"README.md": "# api\n", "src/app.py": "def handler():\n    return 'E4012'\n"})
        yield fake


@pytest.fixture
async def client(github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    async with GitHubClient(github.token, base_url=github.url) as client:
        yield client


async def run(client: GitHubClient, name: str, **args: Any) -> Any:
    action = ACTIONS[name]
    return await action.run(client, action.args.model_validate({"owner": "acme", "repo": "api", **args}))


async def test_a_file_is_read_as_text_and_updated_only_with_its_current_sha(
    client: GitHubClient, github: FakeGitHub
) -> None:
    read = await run(client, "repos.get_file_contents", path="src/app.py")
    assert read["text"] == "def handler():\n    return 'E4012'\n"
    with pytest.raises(GitHubApiError) as no_sha:
        await run(
            client, "repos.create_or_update_file", path="src/app.py", content="x", message="m", branch="main"
        )
    assert no_sha.value.status == 422
    with pytest.raises(GitHubApiError) as stale:
        await run(client, "repos.create_or_update_file", path="src/app.py", content="x", message="m",
                  branch="main", sha="0" * 40)  # fmt: skip
    assert stale.value.status == 409
    written = await run(client, "repos.create_or_update_file", path="src/app.py", content="fixed\n",
                        message="Fix handler", branch="main", sha=read["sha"])  # fmt: skip
    assert written["commit"]["commit"]["message"] == "Fix handler"
    assert github.file(REPO, "src/app.py") == "fixed\n"
    listing = await run(client, "repos.get_file_contents", path="src")
    assert [entry["path"] for entry in listing] == ["src/app.py"]


async def test_a_branch_gets_several_files_in_one_commit_then_a_reviewed_pull_request_is_merged_once(
    client: GitHubClient, github: FakeGitHub
) -> None:
    await run(client, "repos.create_branch", branch="fix/e4012")
    files = [{"path": "src/app.py", "content": "ok\n"}, {"path": "docs/e4012.md", "content": "E\n"}]
    pushed = await run(client, "repos.push_files", branch="fix/e4012", message="Handle E4012", files=files)
    commit = await run(client, "repos.get_commit", ref=pushed["commit"])
    assert sorted(f["filename"] for f in commit["files"]) == ["docs/e4012.md", "src/app.py"]
    assert github.file(REPO, "README.md", branch="fix/e4012") == "# api\n", "the base tree is kept"
    assert github.file(REPO, "src/app.py") != "ok\n", "main is untouched until the merge"

    pull = await run(client, "pulls.create", title="Handle E4012", head="fix/e4012", base="main")
    review = await run(client, "pulls.review", number=pull["number"], event="APPROVE")
    assert review["state"] == "APPROVED"
    merged = await run(client, "pulls.merge", number=pull["number"], merge_method="squash")
    assert merged["merged"] is True
    assert github.file(REPO, "src/app.py") == "ok\n"
    with pytest.raises(GitHubApiError) as again:
        await run(client, "pulls.merge", number=pull["number"])
    assert (again.value.status, again.value.message) == (405, "Pull Request is not mergeable")
    assert (await run(client, "pulls.get", number=pull["number"]))["state"] == "closed"


async def test_a_pull_request_with_nothing_to_merge_is_refused_with_githubs_validation_errors(
    client: GitHubClient,
) -> None:
    with pytest.raises(GitHubApiError) as refused:
        await run(client, "pulls.create", title="Nothing", head="main", base="main")
    assert refused.value.status == 422
    assert refused.value.message == "Validation Failed"
    assert "No commits between main and main" in refused.value.errors[0]["message"]


async def test_issues_are_created_commented_updated_listed_and_searched(
    client: GitHubClient, github: FakeGitHub
) -> None:
    created = await run(client, "issues.create", title="Checkout fails with E4012", body="Seen in prod",
                        labels=["bug"])  # fmt: skip
    number = created["number"]
    await run(client, "issues.comment", number=number, body="Looking into it")
    await run(client, "issues.update", number=number, state="closed")
    assert github.issue(REPO, number)["state"] == "closed"
    assert [c["body"] for c in github.comments(REPO, number)] == ["Looking into it"]
    assert (await run(client, "issues.get", number=number))["comments"] == 1
    assert (await run(client, "issues.list", state="open"))["items"] == []
    closed = await run(client, "issues.list", state="closed", labels=["bug"])
    assert [i["number"] for i in closed["items"]] == [number]
    found = await ACTIONS["issues.search"].run(
        client, ACTIONS["issues.search"].args(query=f"repo:{REPO} E4012")
    )
    assert [i["number"] for i in found["items"]] == [number]
    code = await ACTIONS["search.code"].run(client, ACTIONS["search.code"].args(query="E4012"))
    assert [i["path"] for i in code["items"]] == ["src/app.py"]


async def test_lists_follow_link_pages_up_to_the_limit_and_say_when_more_were_left(
    client: GitHubClient, github: FakeGitHub
) -> None:
    for i in range(130):
        github.add_issue(REPO, f"issue {i}")
    some = await run(client, "issues.list", limit=30)
    assert len(some["items"]) == 30
    assert some["truncated"] is True
    most = await ACTIONS["issues.list"].run(
        client, ACTIONS["issues.list"].args(owner="acme", repo="api", limit=100)
    )
    assert len({i["number"] for i in most["items"]}) == 100
    pages = [c for c in github.calls if c.path == "/repos/acme/api/issues"]
    assert len(pages) == 2, "limit 30 took one page, limit 100 one page of 100"
    commits = await run(client, "repos.list_commits", limit=5)
    assert commits["truncated"] is False
    assert len(commits["items"]) == 1


async def test_a_link_to_another_host_is_not_followed_with_the_token() -> None:
    elsewhere_calls: list[str | None] = []

    async def elsewhere(request: Request) -> JSONResponse:
        elsewhere_calls.append(request.headers.get("authorization"))
        return JSONResponse([{"stolen": True}])

    with LoopbackServer(Starlette(routes=[Route("/page2", elsewhere)])) as other:

        async def first(request: Request) -> JSONResponse:
            return JSONResponse([{"n": 1}], headers={"link": f'<{other.base_url}/page2>; rel="next"'})

        with LoopbackServer(Starlette(routes=[Route("/repos/acme/api/issues", first)])) as api:
            async with GitHubClient("ghp_secret_value_123", base_url=api.base_url) as client:
                items, more = await client.paginate("/repos/acme/api/issues", limit=10)
    assert items == [{"n": 1}]
    assert more is True
    assert elsewhere_calls == []


async def test_rate_limits_say_how_long_to_wait(client: GitHubClient, github: FakeGitHub) -> None:
    github.secondary_rate_limit(retry_after=42)
    with pytest.raises(GitHubRateLimited) as secondary:
        await run(client, "issues.list")
    assert secondary.value.retry_after == 42
    assert "secondary rate limit" in secondary.value.message
    github.exhaust_rate_limit()
    with pytest.raises(GitHubRateLimited) as primary:
        await run(client, "issues.list")
    assert 3500 <= primary.value.retry_after <= 3600


async def test_a_wrong_token_is_an_auth_error_and_an_unreachable_host_is_unavailable(
    github: FakeGitHub,
) -> None:
    async with GitHubClient("ghp_wrong", base_url=github.url) as wrong:
        with pytest.raises(GitHubAuthError) as refused:
            await run(wrong, "issues.list")
    assert refused.value.message == "Bad credentials"
    async with GitHubClient("ghp_x", base_url="http://127.0.0.1:9", timeout=2) as nowhere:
        with pytest.raises(GitHubUnavailable):
            await run(nowhere, "issues.list")


async def test_a_job_log_is_fetched_from_the_redirect_without_the_token_and_capped(
    client: GitHubClient, github: FakeGitHub
) -> None:
    run_ = github.add_workflow_run(REPO, conclusion="failure", log="step 1\nError: E4012\n")
    runs = await run(client, "actions.list_workflow_runs", branch="main")
    assert [r["id"] for r in runs["items"]] == [run_["id"]]
    assert (await run(client, "actions.get_workflow_run", run_id=run_["id"]))["conclusion"] == "failure"
    log = await run(client, "actions.get_job_logs", job_id=run_["jobs"][0])
    assert log == {"job_id": run_["jobs"][0], "log": "step 1\nError: E4012\n", "truncated": False}
    blob_calls = [c for c in github.calls if c.path.startswith("/_blob/")]
    assert blob_calls
    assert all(c.authorization is None for c in blob_calls)

    big = github.add_workflow_run(REPO, log="x" * (MAX_LOG_BYTES + 10))
    capped = await run(client, "actions.get_job_logs", job_id=big["jobs"][0])
    assert capped["truncated"] is True
    assert len(capped["log"]) == MAX_LOG_BYTES


def test_every_action_publishes_a_schema_and_refuses_arguments_outside_it() -> None:
    assert len(ACTIONS) == 22
    for action in ACTIONS.values():
        schema = action.schema()
        assert schema["type"] == "object"
        assert schema.get("additionalProperties") is False, action.name
        assert action.summary
    with pytest.raises(ValidationError):
        ACTIONS["issues.get"].args.model_validate({"owner": "acme/../x", "repo": "api", "number": 1})
    with pytest.raises(ValidationError):
        ACTIONS["issues.get"].args.model_validate({"owner": "acme", "repo": "api", "number": 1, "extra": 1})
    writes = {name for name, action in ACTIONS.items() if action.writes}
    assert "pulls.merge" in writes
    assert "issues.get" not in writes
