"""A fake GitHub REST API on a loopback port, for the Tool Gateway's GitHub tool.

It speaks the shapes of GitHub's published REST description for the endpoints the tool uses:
repository contents, commits, refs and the git data API (trees, commits) that pushing several files
takes, code and issue search, issues and their comments, pull requests (merge, reviews), and Actions
runs and job logs (a 302 to a log URL on another path, as GitHub redirects to its blob storage).
Errors carry GitHub's body (`{"message", "documentation_url"}`, `errors` on 422); list endpoints
paginate with `per_page`/`page` and a `Link` header; every answer carries `x-ratelimit-*` headers.
Tests plan a secondary rate limit (403 + `retry-after`) or an exhausted primary limit
(`x-ratelimit-remaining: 0`), and inspect every request. Run it standalone with
`python -m tests.fakes.github --port 8098 --token T`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.servers import LoopbackServer

DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000  # GitHub's primary limit for a token, per hour
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


class GitHubFail(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS, **extra}


def _sha(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()


@dataclass
class Commit:
    sha: str
    message: str
    tree: dict[str, str]  # path -> content
    parents: list[str]
    date: str
    files: list[dict[str, Any]]


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # tree sha -> files
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # issues and pulls share numbers
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    job_logs: dict[int, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class GitHubState:
    def __init__(self, token: str, clock: Any = time.time) -> None:
        self.token = token
        self.clock = clock
        self.lock = threading.Lock()
        self.repos: dict[str, Repo] = {}
        self.calls: list[Call] = []
        self.remaining = RATE_LIMIT
        self.secondary: list[float] = []  # planned retry-after values, one per refused request
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1000)

    def now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))

    def next_id(self) -> int:
        return next(self._ids)

    def repo(self, owner: str, name: str) -> Repo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise GitHubFail(404, "Not Found")
        return repo

    def add_repo(self, full_name: str, files: dict[str, str]) -> Repo:
        owner, name = full_name.split("/")
        repo = Repo(owner, name)
        self.repos[full_name.lower()] = repo
        self.commit(repo, "main", "Initial commit", files, parents=[])
        return repo

    def commit(
        self, repo: Repo, branch: str, message: str, tree: dict[str, str], parents: list[str]
    ) -> Commit:
        before = repo.commits[parents[0]].tree if parents else {}
        files = [
            {
                "filename": p,
                "status": "added" if p not in before else "modified",
                "additions": tree[p].count("\n") + 1,
                "deletions": 0,
                "patch": f"@@ +1 @@\n+{tree[p][:200]}",
            }
            for p in sorted(tree)
            if before.get(p) != tree[p]
        ]
        commit = Commit(
            _sha(repo.full_name, message, tree, parents, self.clock()),
            message,
            dict(tree),
            parents,
            self.now(),
            files,
        )
        repo.commits[commit.sha] = commit
        repo.branches[branch] = commit.sha
        return commit


def _api_file(repo: Repo, path: str, content: str, ref: str) -> dict[str, Any]:
    blob = _sha("blob", content)
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(content.encode()),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.b64encode(content.encode()).decode(),
        "sha": blob,
        "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
    }


def _api_commit(repo: Repo, commit: Commit, *, files: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sha": commit.sha,
        "commit": {
            "message": commit.message,
            "author": {"name": "octo", "email": "octo@example.com", "date": commit.date},
            "tree": {"sha": _sha("tree", commit.tree)},
        },
        "parents": [{"sha": p} for p in commit.parents],
        "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
    }
    if files:
        data["files"] = commit.files
    return data


class FakeGitHub:
    """The fake GitHub server and its state; start it, use `url` as the API base URL, stop it."""

    def __init__(
        self, *, token: str = "ghp_fake_token_for_tests", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = GitHubState(token)
        self._server = LoopbackServer(self._app(), host=host, port=port)

    @property
    def url(self) -> str:
        return self._server.base_url

    @property
    def token(self) -> str:
        return self.state.token

    def start(self) -> FakeGitHub:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # Test controls

    def add_repo(self, full_name: str, files: dict[str, str] | None = None) -> Repo:
        with self.state.lock:
            return self.state.add_repo(full_name, files or {"README.md": f"# {full_name}\n"})

    def add_issue(self, full_name: str, title: str, body: str = "", *, state: str = "open") -> dict[str, Any]:
        with self.state.lock:
            repo = self.state.repo(*full_name.split("/"))
            return self._new_issue(repo, {"title": title, "body": body, "state": state})

    def add_workflow_run(
        self, full_name: str, *, branch: str = "main", conclusion: str = "success", log: str = "build ok\n"
    ) -> dict[str, Any]:
        with self.state.lock:
            repo = self.state.repo(*full_name.split("/"))
            run_id, job_id = self.state.next_id(), self.state.next_id()
            run = {
                "id": run_id,
                "name": "CI",
                "head_branch": branch,
                "head_sha": repo.branches[branch],
                "status": "completed",
                "conclusion": conclusion,
                "event": "push",
                "run_number": len(repo.runs) + 1,
                "html_url": f"https://github.com/{full_name}/actions/runs/{run_id}",
                "jobs": [job_id],
                "created_at": self.state.now(),
                "updated_at": self.state.now(),
            }
            repo.runs[run_id] = run
            repo.job_logs[job_id] = log
            return run

    def secondary_rate_limit(self, *, times: int = 1, retry_after: float = 60) -> None:
        """The next `times` requests get 403 with GitHub's secondary-rate-limit body and `retry-after`."""
        with self.state.lock:
            self.state.secondary.extend([retry_after] * times)

    def exhaust_rate_limit(self) -> None:
        """The primary limit is spent: 403 with `x-ratelimit-remaining: 0` until the reset time."""
        with self.state.lock:
            self.state.remaining = 0

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def file(self, full_name: str, path: str, branch: str = "main") -> str | None:
        with self.state.lock:
            repo = self.state.repo(*full_name.split("/"))
            return repo.commits[repo.branches[branch]].tree.get(path)

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        with self.state.lock:
            return json.loads(json.dumps(self.state.repo(*full_name.split("/")).issues[number]))

    def comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.repo(*full_name.split("/")).comments.get(number, []))

    # The HTTP side

    def _app(self) -> Starlette:
        r = "/repos/{owner}/{repo}"
        routes = [
            Route(r, self._repository, methods=["GET"]),
            Route(r + "/contents/{path:path}", self._contents, methods=["GET", "PUT"]),
            Route(r + "/commits", self._commits, methods=["GET"]),
            Route(r + "/commits/{ref}", self._commit, methods=["GET"]),
            Route(r + "/git/ref/{ref:path}", self._get_ref, methods=["GET"]),
            Route(r + "/git/refs", self._create_ref, methods=["POST"]),
            Route(r + "/git/refs/{ref:path}", self._update_ref, methods=["PATCH"]),
            Route(r + "/git/trees", self._create_tree, methods=["POST"]),
            Route(r + "/git/commits", self._create_commit, methods=["POST"]),
            Route("/search/code", self._search_code, methods=["GET"]),
            Route("/search/issues", self._search_issues, methods=["GET"]),
            Route(r + "/issues", self._issues, methods=["GET", "POST"]),
            Route(r + "/issues/{number:int}", self._issue, methods=["GET", "PATCH"]),
            Route(r + "/issues/{number:int}/comments", self._issue_comments, methods=["GET", "POST"]),
            Route(r + "/pulls", self._pulls, methods=["GET", "POST"]),
            Route(r + "/pulls/{number:int}", self._pull, methods=["GET", "PATCH"]),
            Route(r + "/pulls/{number:int}/merge", self._merge, methods=["PUT"]),
            Route(r + "/pulls/{number:int}/reviews", self._reviews, methods=["POST"]),
            Route(r + "/actions/runs", self._runs, methods=["GET"]),
            Route(r + "/actions/runs/{run_id:int}", self._run, methods=["GET"]),
            Route(r + "/actions/jobs/{job_id:int}/logs", self._job_logs, methods=["GET"]),
            Route("/_blob/logs/{job_id:int}", self._log_blob, methods=["GET"]),
        ]
        return Starlette(routes=[Route(x.path, self._wrap(x.endpoint), methods=x.methods) for x in routes])

    def _wrap(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return self._answer(GitHubFail(400, "Problems parsing JSON"))
            state = self.state
            with state.lock:
                state.calls.append(
                    Call(
                        request.method,
                        request.url.path,
                        dict(request.query_params),
                        body,
                        request.headers.get("authorization"),
                    )
                )
                if not request.url.path.startswith("/_blob/"):
                    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
                    if scheme.lower() not in ("bearer", "token") or token != state.token:
                        return self._answer(GitHubFail(401, "Bad credentials"))
                    if state.secondary:
                        retry_after = state.secondary.pop(0)
                        return self._answer(
                            GitHubFail(403, SECONDARY_MESSAGE), {"retry-after": f"{retry_after:.0f}"}
                        )
                    if state.remaining <= 0:
                        fail = GitHubFail(403, "API rate limit exceeded for user ID 1.")
                        return self._answer(fail)
                    state.remaining -= 1
                try:
                    result = handler(request, body if isinstance(body, dict) else {})
                except GitHubFail as fail:
                    return self._answer(fail)
            if isinstance(result, Response):
                result.headers.update(self._rate_headers())
                return result
            status, data, headers = result if len(result) == 3 else (*result, {})
            return JSONResponse(data, status_code=status, headers={**self._rate_headers(), **headers})

        return endpoint

    def _rate_headers(self) -> dict[str, str]:
        reset = int(self.state.clock()) + 3600
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(self.state.remaining, 0)),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(RATE_LIMIT - self.state.remaining),
            "x-ratelimit-resource": "core",
        }

    def _answer(self, fail: GitHubFail, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(
            fail.body, status_code=fail.status, headers={**self._rate_headers(), **(headers or {})}
        )

    def _page(self, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        try:
            per_page = min(int(request.query_params.get("per_page", 30)), 100)
            page = int(request.query_params.get("page", 1))
        except ValueError as e:
            raise GitHubFail(422, "Validation Failed", errors=[{"code": "invalid", "field": "page"}]) from e
        per_page, page = max(per_page, 1), max(page, 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        query = dict(request.query_params)
        for rel, target in (("next", page + 1), ("last", last), ("first", 1), ("prev", page - 1)):
            if (rel in ("next", "last") and page < last) or (rel in ("first", "prev") and page > 1):
                url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
                links.append(
                    f'<{url}?{urlencode({**query, "per_page": per_page, "page": target})}>; rel="{rel}"'
                )
        headers = {"link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    def _ref_commit(self, repo: Repo, ref: str | None) -> Commit:
        ref = ref or repo.default_branch
        sha = repo.branches.get(ref, ref)
        commit = repo.commits.get(sha)
        if commit is None:
            raise GitHubFail(404, f"No commit found for the ref {ref}")
        return commit

    # Contents, commits, refs

    def _repository(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        return 200, {
            "id": hash(repo.full_name) & 0xFFFFFF,
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner},
            "default_branch": repo.default_branch,
            "private": True,
            "html_url": f"https://github.com/{repo.full_name}",
        }

    def _contents(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        path = request.path_params["path"].strip("/")
        if request.method == "GET":
            ref = request.query_params.get("ref")
            tree = self._ref_commit(repo, ref).tree
            if path in tree:
                return 200, _api_file(repo, path, tree[path], ref or repo.default_branch)
            listing = sorted(
                {p[len(path) + 1 :].split("/")[0] for p in tree if p.startswith(path + "/") or not path}
            )
            if not listing:
                raise GitHubFail(404, "Not Found")
            prefix = f"{path}/" if path else ""
            return 200, [
                {"type": "file" if f"{prefix}{n}" in tree else "dir", "name": n, "path": f"{prefix}{n}"}
                for n in listing
            ]
        missing = [f for f in ("message", "content") if not isinstance(body.get(f), str)]
        if missing:
            raise GitHubFail(
                422, "Invalid request.\n\n" + ", ".join(f'"{f}" wasn\'t supplied.' for f in missing)
            )
        branch = body.get("branch") or repo.default_branch
        if branch not in repo.branches:
            raise GitHubFail(404, f"Branch {branch} not found")
        head = repo.commits[repo.branches[branch]]
        try:
            content = base64.b64decode(body["content"], validate=True).decode()
        except ValueError as e:
            raise GitHubFail(422, "content is not valid Base64") from e
        existing = head.tree.get(path)
        if existing is not None:
            if "sha" not in body:
                raise GitHubFail(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            if body["sha"] != _sha("blob", existing):
                raise GitHubFail(409, f"{path} does not match {body['sha']}")
        commit = self.state.commit(repo, branch, body["message"], {**head.tree, path: content}, [head.sha])
        return (201 if existing is None else 200), {
            "content": _api_file(repo, path, content, branch),
            "commit": _api_commit(repo, commit),
        }

    def _commits(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        commit: Commit | None = self._ref_commit(repo, request.query_params.get("sha"))
        path = request.query_params.get("path")
        history = []
        while commit is not None:
            if not path or any(f["filename"] == path for f in commit.files):
                history.append(_api_commit(repo, commit))
            commit = repo.commits.get(commit.parents[0]) if commit.parents else None
        items, headers = self._page(request, history)
        return 200, items, headers

    def _commit(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        return 200, _api_commit(repo, self._ref_commit(repo, request.path_params["ref"]), files=True)

    def _get_ref(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        ref = request.path_params["ref"]
        branch = ref.removeprefix("heads/")
        if not ref.startswith("heads/") or branch not in repo.branches:
            raise GitHubFail(404, "Not Found")
        return 200, {"ref": f"refs/{ref}", "object": {"sha": repo.branches[branch], "type": "commit"}}

    def _create_ref(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise GitHubFail(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if sha not in repo.commits:
            raise GitHubFail(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise GitHubFail(422, "Reference already exists")
        repo.branches[branch] = sha
        return 201, {"ref": ref, "object": {"sha": sha, "type": "commit"}}

    def _update_ref(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        branch = request.path_params["ref"].removeprefix("heads/")
        if branch not in repo.branches:
            raise GitHubFail(422, "Reference does not exist")
        sha = body.get("sha")
        if sha not in repo.commits:
            raise GitHubFail(422, "Object does not exist")
        if repo.branches[branch] not in repo.commits[sha].parents and not body.get("force"):
            raise GitHubFail(422, "Update is not a fast forward")
        repo.branches[branch] = sha
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}

    def _create_tree(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        base = body.get("base_tree")
        files = dict(next((c.tree for c in repo.commits.values() if _sha("tree", c.tree) == base), {}))
        if base and not files and base not in repo.trees:
            raise GitHubFail(422, "base_tree is not a valid tree oid")
        files.update(repo.trees.get(base or "", {}))
        entries = body.get("tree")
        if not isinstance(entries, list) or not entries:
            raise GitHubFail(422, "Invalid tree info", errors=[{"field": "tree", "code": "missing_field"}])
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise GitHubFail(422, "Invalid tree info")
            files[entry["path"]] = str(entry.get("content", ""))
        sha = _sha("tree", files)
        repo.trees[sha] = files
        return 201, {
            "sha": sha,
            "tree": [{"path": p, "mode": "100644", "type": "blob"} for p in sorted(files)],
        }

    def _create_commit(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        tree = repo.trees.get(body.get("tree", ""))
        parents = body.get("parents") or []
        if (
            tree is None
            or not isinstance(body.get("message"), str)
            or any(p not in repo.commits for p in parents)
        ):
            raise GitHubFail(422, "Invalid request")
        before = repo.branches.copy()
        commit = self.state.commit(repo, "__detached__", body["message"], tree, parents)
        repo.branches = before  # a git commit moves no branch until its ref is updated
        return 201, {
            "sha": commit.sha,
            "message": commit.message,
            "tree": {"sha": body["tree"]},
            "parents": [{"sha": p} for p in parents],
        }

    # Search

    def _search_code(self, request: Request, _: dict[str, Any]) -> Any:
        words, repo_name = self._query(request)
        items = []
        for repo in self.state.repos.values():
            if repo_name and repo.full_name.lower() != repo_name:
                continue
            tree = repo.commits[repo.branches[repo.default_branch]].tree
            for path in sorted(tree):
                if all(w in tree[path].lower() or w in path.lower() for w in words):
                    items.append(
                        {
                            "name": path.rsplit("/", 1)[-1],
                            "path": path,
                            "sha": _sha("blob", tree[path]),
                            "repository": {"full_name": repo.full_name},
                            "html_url": f"https://github.com/{repo.full_name}/blob/main/{path}",
                        }
                    )
        page, headers = self._page(request, items)
        return 200, {"total_count": len(items), "incomplete_results": False, "items": page}, headers

    def _search_issues(self, request: Request, _: dict[str, Any]) -> Any:
        words, repo_name = self._query(request)
        items = [
            issue
            for repo in self.state.repos.values()
            if not repo_name or repo.full_name.lower() == repo_name
            for issue in repo.issues.values()
            if all(w in f"{issue['title']} {issue['body'] or ''}".lower() for w in words)
        ]
        page, headers = self._page(request, items)
        return 200, {"total_count": len(items), "incomplete_results": False, "items": page}, headers

    @staticmethod
    def _query(request: Request) -> tuple[list[str], str | None]:
        q = request.query_params.get("q", "").strip()
        if not q:
            raise GitHubFail(
                422, "Validation Failed", errors=[{"resource": "Search", "field": "q", "code": "missing"}]
            )
        words, repo = [], None
        for term in q.split():
            if term.startswith("repo:"):
                repo = term[5:].lower()
            elif ":" not in term:
                words.append(term.lower())
        return words, repo

    # Issues and pull requests

    def _new_issue(
        self, repo: Repo, body: dict[str, Any], pull: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        number = max(repo.issues, default=0) + 1
        kind = "pull" if pull else "issues"
        issue = {
            "id": self.state.next_id(),
            "number": number,
            "title": body["title"],
            "body": body.get("body"),
            "state": body.get("state", "open"),
            "labels": [{"name": n} for n in body.get("labels") or []],
            "assignees": [{"login": n} for n in body.get("assignees") or []],
            "user": {"login": "octo"},
            "comments": 0,
            "created_at": self.state.now(),
            "updated_at": self.state.now(),
            "html_url": f"https://github.com/{repo.full_name}/{kind}/{number}",
        }
        if pull:
            issue.update(pull)
            issue["pull_request"] = {"html_url": issue["html_url"]}
        repo.issues[number] = issue
        return issue

    def _issues(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        if request.method == "POST":
            if not isinstance(body.get("title"), str) or not body["title"]:
                raise GitHubFail(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
                )
            return 201, self._new_issue(repo, body)
        state = request.query_params.get("state", "open")
        labels = {x for x in request.query_params.get("labels", "").split(",") if x}
        items = [
            i
            for i in sorted(repo.issues.values(), key=lambda i: -i["number"])
            if (state == "all" or i["state"] == state) and labels <= {x["name"] for x in i["labels"]}
        ]
        page, headers = self._page(request, items)
        return 200, page, headers

    def _issue(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        issue = repo.issues.get(request.path_params["number"])
        if issue is None:
            raise GitHubFail(404, "Not Found")
        if request.method == "PATCH":
            if "state" in body and body["state"] not in ("open", "closed"):
                raise GitHubFail(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "Issue", "code": "invalid", "field": "state"}],
                )
            for key in ("title", "body", "state"):
                if key in body:
                    issue[key] = body[key]
            if "labels" in body:
                issue["labels"] = [{"name": n} for n in body["labels"]]
            issue["updated_at"] = self.state.now()
        return 200, issue

    def _issue_comments(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        number = request.path_params["number"]
        if number not in repo.issues:
            raise GitHubFail(404, "Not Found")
        comments = repo.comments.setdefault(number, [])
        if request.method == "GET":
            page, headers = self._page(request, comments)
            return 200, page, headers
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise GitHubFail(
                422,
                "Validation Failed",
                errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        comment_id = self.state.next_id()
        comment = {
            "id": comment_id,
            "body": body["body"],
            "user": {"login": "octo"},
            "created_at": self.state.now(),
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}#issuecomment-{comment_id}",
        }
        comments.append(comment)
        repo.issues[number]["comments"] = len(comments)
        return 201, comment

    def _pulls(self, request: Request, body: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        if request.method == "POST":
            missing = [f for f in ("title", "head", "base") if not isinstance(body.get(f), str)]
            if missing:
                raise GitHubFail(
                    422,
                    "Validation Failed",
                    errors=[
                        {"resource": "PullRequest", "code": "missing_field", "field": f} for f in missing
                    ],
                )
            for side in ("head", "base"):
                if body[side] not in repo.branches:
                    raise GitHubFail(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "PullRequest", "code": "invalid", "field": side}],
                    )
            if repo.branches[body["head"]] == repo.branches[body["base"]]:
                raise GitHubFail(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {body['base']} and {body['head']}",
                        }
                    ],
                )
            pull = {
                "head": {"ref": body["head"], "sha": repo.branches[body["head"]]},
                "base": {"ref": body["base"]},
                "draft": bool(body.get("draft")),
                "merged": False,
                "mergeable": True,
            }
            return 201, self._new_issue(repo, body, pull)
        state = request.query_params.get("state", "open")
        items = [
            i
            for i in sorted(repo.issues.values(), key=lambda i: -i["number"])
            if "pull_request" in i and (state == "all" or i["state"] == state)
        ]
        page, headers = self._page(request, items)
        return 200, page, headers

    def _pull_of(self, request: Request) -> tuple[Repo, dict[str, Any]]:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        pull = repo.issues.get(request.path_params["number"])
        if pull is None or "pull_request" not in pull:
            raise GitHubFail(404, "Not Found")
        return repo, pull

    def _pull(self, request: Request, body: dict[str, Any]) -> Any:
        _, pull = self._pull_of(request)
        if request.method == "PATCH":
            for key in ("title", "body", "state"):
                if key in body:
                    pull[key] = body[key]
        return 200, pull

    def _merge(self, request: Request, body: dict[str, Any]) -> Any:
        repo, pull = self._pull_of(request)
        if pull["merged"] or pull["state"] != "open" or not pull["mergeable"]:
            raise GitHubFail(405, "Pull Request is not mergeable")
        head = repo.commits[repo.branches[pull["head"]["ref"]]]
        base = repo.commits[repo.branches[pull["base"]["ref"]]]
        message = body.get("commit_title") or f"Merge pull request #{pull['number']}"
        merged = self.state.commit(
            repo, pull["base"]["ref"], message, {**base.tree, **head.tree}, [base.sha, head.sha]
        )
        pull.update(merged=True, state="closed", merge_commit_sha=merged.sha)
        return 200, {"sha": merged.sha, "merged": True, "message": "Pull Request successfully merged"}

    def _reviews(self, request: Request, body: dict[str, Any]) -> Any:
        repo, pull = self._pull_of(request)
        event = body.get("event", "PENDING")
        if event not in ("APPROVE", "REQUEST_CHANGES", "COMMENT", "PENDING"):
            raise GitHubFail(422, "Unprocessable Entity", errors=[f"Invalid event {event}"])
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
            raise GitHubFail(
                422,
                "Unprocessable Entity",
                errors=[f"Review Can not request changes or comment without a body ({event})"],
            )
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
        review = {
            "id": self.state.next_id(),
            "user": {"login": "octo"},
            "body": body.get("body", ""),
            "state": state.get(event, "PENDING"),
            "submitted_at": self.state.now(),
            "html_url": f"{pull['html_url']}#pullrequestreview",
        }
        repo.reviews.setdefault(pull["number"], []).append(review)
        return 200, review

    # Actions

    def _runs(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        branch = request.query_params.get("branch")
        runs = [
            {k: v for k, v in r.items() if k != "jobs"}
            for r in sorted(repo.runs.values(), key=lambda r: -r["id"])
            if not branch or r["head_branch"] == branch
        ]
        page, headers = self._page(request, runs)
        return 200, {"total_count": len(runs), "workflow_runs": page}, headers

    def _run(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        run = repo.runs.get(request.path_params["run_id"])
        if run is None:
            raise GitHubFail(404, "Not Found")
        return 200, {k: v for k, v in run.items() if k != "jobs"}

    def _job_logs(self, request: Request, _: dict[str, Any]) -> Any:
        repo = self.state.repo(request.path_params["owner"], request.path_params["repo"])
        job_id = request.path_params["job_id"]
        if job_id not in repo.job_logs:
            raise GitHubFail(404, "Not Found")
        # GitHub answers with a short-lived signed URL on its blob storage, which takes no token.
        signature = hashlib.sha256(f"{job_id}:{self.state.token}".encode()).hexdigest()[:16]
        return RedirectResponse(f"{self.url}/_blob/logs/{job_id}?sig={signature}", status_code=302)

    def _log_blob(self, request: Request, _: dict[str, Any]) -> Any:
        job_id = request.path_params["job_id"]
        expected = hashlib.sha256(f"{job_id}:{self.state.token}".encode()).hexdigest()[:16]
        if request.query_params.get("sig") != expected:
            return PlainTextResponse("AuthenticationFailed", status_code=403)
        if request.headers.get("authorization"):
            # Blob storage refuses a request that carries a second authentication method.
            return PlainTextResponse("InvalidAuthenticationInfo", status_code=400)
        log = next((r.job_logs[job_id] for r in self.state.repos.values() if job_id in r.job_logs), None)
        if log is None:
            return PlainTextResponse("BlobNotFound", status_code=404)
        return PlainTextResponse(log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--token", default="ghp_fake_token_for_tests")
    parser.add_argument("--repo", action="append", default=[], help="owner/name to create (repeatable)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=RATE_LIMIT,
        help="requests the token may make (a benchmark makes more)",
    )
    args = parser.parse_args()
    fake = FakeGitHub(token=args.token, port=args.port)
    fake.state.remaining = args.rate_limit
    for full_name in args.repo:
        fake.add_repo(full_name)
    fake.start()
    print(f"fake GitHub on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
