"""The `github` tool's actions: names, argument schemas and how each runs against the REST API.

The set follows GitHub's own MCP server (read a file, list and get commits, create a branch, create
or update a file, push several files in one commit, code search; read, list, search, create, update
and comment on issues; read, list, create, update, merge and review pull requests; list and get
Actions runs and read a job's log), so prompts written for it transfer. Names are dotted by family
(`issues.create`, `pulls.merge`) so a ToolCredential can allow `issues.*`. Each action's arguments are
a pydantic model: its JSON Schema is what `GET /v1/tools` and MCP list, and a call whose arguments
do not validate never reaches GitHub.
"""

from __future__ import annotations

import base64
import copy
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from oblivion_nexus.integrations.github import GitHubClient

# GitHub names: owners and repositories are short and never contain a slash.
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
Ref = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s~^:?*\[\\]+$")]
Path = Annotated[str, Field(min_length=1, max_length=1024)]
Text = Annotated[str, Field(max_length=65536)]
Limit = Annotated[int, Field(ge=1, le=100)]
# A job log can be megabytes; an agent's context cannot.
MAX_LOG_BYTES = 256 * 1024


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepoArgs(Args):
    owner: Name
    repo: Name


@dataclass(frozen=True)
class GitHubAction:
    name: str
    summary: str
    args: type[Args]
    run: Callable[[GitHubClient, Any], Awaitable[Any]]
    writes: bool

    def schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema (a copy: the catalog hands it out)."""
        return copy.deepcopy(_schema_of(self.args))


@functools.cache
def _schema_of(args: type[Args]) -> dict[str, Any]:
    # Generating a schema takes pydantic ~0.2 ms; GET /v1/tools lists every action's.
    return args.model_json_schema()


ACTIONS: dict[str, GitHubAction] = {}


_Run = TypeVar("_Run", bound=Callable[..., Awaitable[Any]])


def action(name: str, args: type[Args], summary: str, *, writes: bool = False) -> Callable[[_Run], _Run]:
    def register(fn: _Run) -> _Run:
        ACTIONS[name] = GitHubAction(name, summary, args, fn, writes)
        return fn

    return register


def _repo(args: RepoArgs) -> str:
    return f"/repos/{args.owner}/{args.repo}"


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _listing(items: list[Any], more: bool) -> dict[str, Any]:
    return {"items": items, "truncated": more}


# Repository contents and commits


class GetFileArgs(RepoArgs):
    path: Path
    ref: Ref | None = None


@action(
    "repos.get_file_contents",
    GetFileArgs,
    "Read a file (decoded text) or list a directory at a branch, tag or commit.",
)
async def get_file_contents(client: GitHubClient, args: GetFileArgs) -> Any:
    params = {"ref": args.ref} if args.ref else None
    data = await client.json("GET", f"{_repo(args)}/contents/{quote(args.path.strip('/'))}", params=params)
    if isinstance(data, dict) and data.get("encoding") == "base64":
        text = base64.b64decode(data.get("content", "")).decode("utf-8", errors="replace")
        return {"path": data.get("path"), "sha": data.get("sha"), "size": data.get("size"), "text": text,
                "html_url": data.get("html_url")}  # fmt: skip
    return data


class ListCommitsArgs(RepoArgs):
    sha: Ref | None = Field(None, description="branch, tag or commit to start from")
    path: Path | None = None
    limit: Limit = 30


@action(
    "repos.list_commits",
    ListCommitsArgs,
    "List commits of a branch, newest first, optionally touching a path.",
)
async def list_commits(client: GitHubClient, args: ListCommitsArgs) -> Any:
    params = {k: v for k, v in (("sha", args.sha), ("path", args.path)) if v}
    return _listing(*await client.paginate(f"{_repo(args)}/commits", params=params, limit=args.limit))


class GetCommitArgs(RepoArgs):
    ref: Ref


@action("repos.get_commit", GetCommitArgs, "Get one commit with its changed files.")
async def get_commit(client: GitHubClient, args: GetCommitArgs) -> Any:
    return await client.json("GET", f"{_repo(args)}/commits/{_seg(args.ref)}")


class CreateBranchArgs(RepoArgs):
    branch: Ref
    from_branch: Ref | None = Field(None, description="defaults to the repository's default branch")


@action("repos.create_branch", CreateBranchArgs, "Create a branch from another branch.", writes=True)
async def create_branch(client: GitHubClient, args: CreateBranchArgs) -> Any:
    source = args.from_branch or (await client.json("GET", _repo(args)))["default_branch"]
    ref = await client.json("GET", f"{_repo(args)}/git/ref/heads/{quote(source)}")
    return await client.json(
        "POST",
        f"{_repo(args)}/git/refs",
        json={"ref": f"refs/heads/{args.branch}", "sha": ref["object"]["sha"]},
    )


class PutFileArgs(RepoArgs):
    path: Path
    content: Text
    message: Annotated[str, Field(min_length=1, max_length=4096)]
    branch: Ref
    sha: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] | None = Field(
        None, description="the blob sha of the file being replaced (required to update an existing file)"
    )


@action("repos.create_or_update_file", PutFileArgs, "Create or update one file in one commit.", writes=True)
async def create_or_update_file(client: GitHubClient, args: PutFileArgs) -> Any:
    body = {
        "message": args.message,
        "branch": args.branch,
        "content": base64.b64encode(args.content.encode()).decode(),
    }
    if args.sha:
        body["sha"] = args.sha
    data = await client.json("PUT", f"{_repo(args)}/contents/{quote(args.path.strip('/'))}", json=body)
    return {
        "content": {k: data["content"].get(k) for k in ("path", "sha", "html_url")},
        "commit": data["commit"],
    }


class FileChange(Args):
    path: Path
    content: Text


class PushFilesArgs(RepoArgs):
    branch: Ref
    message: Annotated[str, Field(min_length=1, max_length=4096)]
    files: Annotated[list[FileChange], Field(min_length=1, max_length=100)]


@action("repos.push_files", PushFilesArgs, "Push several files to a branch in one commit.", writes=True)
async def push_files(client: GitHubClient, args: PushFilesArgs) -> Any:
    repo = _repo(args)
    head = (await client.json("GET", f"{repo}/git/ref/heads/{quote(args.branch)}"))["object"]["sha"]
    base_tree = (await client.json("GET", f"{repo}/commits/{head}"))["commit"].get("tree", {}).get("sha")
    entries = [
        {"path": f.path.strip("/"), "mode": "100644", "type": "blob", "content": f.content}
        for f in args.files
    ]
    tree_body: dict[str, Any] = {"tree": entries}
    if base_tree:
        tree_body["base_tree"] = base_tree
    tree = await client.json("POST", f"{repo}/git/trees", json=tree_body)
    commit = await client.json(
        "POST", f"{repo}/git/commits", json={"message": args.message, "tree": tree["sha"], "parents": [head]}
    )
    await client.json("PATCH", f"{repo}/git/refs/heads/{quote(args.branch)}", json={"sha": commit["sha"]})
    return {"commit": commit["sha"], "branch": args.branch, "files": [f.path for f in args.files]}


class SearchArgs(Args):
    query: Annotated[
        str, Field(min_length=1, max_length=256, description="GitHub search syntax, e.g. 'repo:o/r fn'")
    ]
    limit: Limit = 30


@action("search.code", SearchArgs, "Search code across repositories (GitHub's code search syntax).")
async def search_code(client: GitHubClient, args: SearchArgs) -> Any:
    return _listing(
        *await client.paginate("/search/code", params={"q": args.query}, limit=args.limit, items_key="items")
    )


# Issues


class IssueArgs(RepoArgs):
    number: Annotated[int, Field(ge=1)]


@action("issues.get", IssueArgs, "Get one issue.")
async def get_issue(client: GitHubClient, args: IssueArgs) -> Any:
    return await client.json("GET", f"{_repo(args)}/issues/{args.number}")


class ListIssuesArgs(RepoArgs):
    state: Literal["open", "closed", "all"] = "open"
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    limit: Limit = 30


@action("issues.list", ListIssuesArgs, "List a repository's issues (and pull requests, as GitHub does).")
async def list_issues(client: GitHubClient, args: ListIssuesArgs) -> Any:
    params: dict[str, Any] = {"state": args.state}
    if args.labels:
        params["labels"] = ",".join(args.labels)
    return _listing(*await client.paginate(f"{_repo(args)}/issues", params=params, limit=args.limit))


@action("issues.search", SearchArgs, "Search issues and pull requests (GitHub's issue search syntax).")
async def search_issues(client: GitHubClient, args: SearchArgs) -> Any:
    params = {"q": args.query}
    return _listing(
        *await client.paginate("/search/issues", params=params, limit=args.limit, items_key="items")
    )


class CreateIssueArgs(RepoArgs):
    title: Annotated[str, Field(min_length=1, max_length=256)]
    body: Text | None = None
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    assignees: list[Name] = Field(default_factory=list, max_length=10)


@action("issues.create", CreateIssueArgs, "Open an issue.", writes=True)
async def create_issue(client: GitHubClient, args: CreateIssueArgs) -> Any:
    return await client.json("POST", f"{_repo(args)}/issues", json=args.model_dump(exclude={"owner", "repo"}))


class UpdateIssueArgs(IssueArgs):
    title: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    body: Text | None = None
    state: Literal["open", "closed"] | None = None
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] | None = Field(None, max_length=20)


@action("issues.update", UpdateIssueArgs, "Edit an issue's title, body, state or labels.", writes=True)
async def update_issue(client: GitHubClient, args: UpdateIssueArgs) -> Any:
    body = args.model_dump(exclude={"owner", "repo", "number"}, exclude_none=True)
    return await client.json("PATCH", f"{_repo(args)}/issues/{args.number}", json=body)


class CommentArgs(IssueArgs):
    body: Annotated[str, Field(min_length=1, max_length=65536)]


@action("issues.comment", CommentArgs, "Comment on an issue or pull request.", writes=True)
async def add_issue_comment(client: GitHubClient, args: CommentArgs) -> Any:
    return await client.json("POST", f"{_repo(args)}/issues/{args.number}/comments", json={"body": args.body})


# Pull requests


@action("pulls.get", IssueArgs, "Get one pull request.")
async def get_pull(client: GitHubClient, args: IssueArgs) -> Any:
    return await client.json("GET", f"{_repo(args)}/pulls/{args.number}")


class ListPullsArgs(RepoArgs):
    state: Literal["open", "closed", "all"] = "open"
    limit: Limit = 30


@action("pulls.list", ListPullsArgs, "List a repository's pull requests.")
async def list_pulls(client: GitHubClient, args: ListPullsArgs) -> Any:
    return _listing(
        *await client.paginate(f"{_repo(args)}/pulls", params={"state": args.state}, limit=args.limit)
    )


class CreatePullArgs(RepoArgs):
    title: Annotated[str, Field(min_length=1, max_length=256)]
    head: Ref
    base: Ref
    body: Text | None = None
    draft: bool = False


@action("pulls.create", CreatePullArgs, "Open a pull request from one branch into another.", writes=True)
async def create_pull(client: GitHubClient, args: CreatePullArgs) -> Any:
    body = args.model_dump(exclude={"owner", "repo"}, exclude_none=True)
    return await client.json("POST", f"{_repo(args)}/pulls", json=body)


class UpdatePullArgs(IssueArgs):
    title: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    body: Text | None = None
    state: Literal["open", "closed"] | None = None


@action("pulls.update", UpdatePullArgs, "Edit a pull request's title, body or state.", writes=True)
async def update_pull(client: GitHubClient, args: UpdatePullArgs) -> Any:
    body = args.model_dump(exclude={"owner", "repo", "number"}, exclude_none=True)
    return await client.json("PATCH", f"{_repo(args)}/pulls/{args.number}", json=body)


class MergeArgs(IssueArgs):
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    commit_title: Annotated[str, Field(max_length=256)] | None = None


@action("pulls.merge", MergeArgs, "Merge a pull request.", writes=True)
async def merge_pull(client: GitHubClient, args: MergeArgs) -> Any:
    body = args.model_dump(exclude={"owner", "repo", "number"}, exclude_none=True)
    return await client.json("PUT", f"{_repo(args)}/pulls/{args.number}/merge", json=body)


class ReviewArgs(IssueArgs):
    event: Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"]
    body: Text | None = None


@action(
    "pulls.review", ReviewArgs, "Review a pull request: approve, request changes, or comment.", writes=True
)
async def review_pull(client: GitHubClient, args: ReviewArgs) -> Any:
    body = args.model_dump(exclude={"owner", "repo", "number"}, exclude_none=True)
    return await client.json("POST", f"{_repo(args)}/pulls/{args.number}/reviews", json=body)


# Actions


class ListRunsArgs(RepoArgs):
    branch: Ref | None = None
    limit: Limit = 20


@action(
    "actions.list_workflow_runs", ListRunsArgs, "List workflow runs, newest first, optionally of one branch."
)
async def list_workflow_runs(client: GitHubClient, args: ListRunsArgs) -> Any:
    params = {"branch": args.branch} if args.branch else None
    path = f"{_repo(args)}/actions/runs"
    return _listing(*await client.paginate(path, params=params, limit=args.limit, items_key="workflow_runs"))


class RunArgs(RepoArgs):
    run_id: Annotated[int, Field(ge=1)]


@action("actions.get_workflow_run", RunArgs, "Get one workflow run.")
async def get_workflow_run(client: GitHubClient, args: RunArgs) -> Any:
    return await client.json("GET", f"{_repo(args)}/actions/runs/{args.run_id}")


class JobLogArgs(RepoArgs):
    job_id: Annotated[int, Field(ge=1)]


@action("actions.get_job_logs", JobLogArgs, "Read a job's log (at most 256 KiB, cut at the end).")
async def get_job_logs(client: GitHubClient, args: JobLogArgs) -> Any:
    text, cut = await client.text_behind_redirect(
        f"{_repo(args)}/actions/jobs/{args.job_id}/logs", max_bytes=MAX_LOG_BYTES
    )
    return {"job_id": args.job_id, "log": text, "truncated": cut}
