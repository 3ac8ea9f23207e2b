"""A local stand-in for GitHub's REST API v3, for the github subgraph's tests.

It answers like the documented endpoints (https://docs.github.com/en/rest):
``/repos/{o}/{n}``, issues (pull requests included, as GitHub does), pulls, issue
comments, and POSTs to create issues and comments; page-numbered lists with a
``Link`` header; 401 for bad credentials, 404, 422, and rate limiting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeGitHub", "RecordedRequest"]

_DOCS = "https://docs.github.com/rest"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


def _user(login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": abs(hash(login)) % 10_000,
        "html_url": f"https://github.com/{login}",
        "type": "User",
    }


def _stamp(n: int) -> str:
    return f"2024-01-{n:02d}T10:00:00Z"


@dataclass
class FakeGitHub:
    token: str | None = None
    """When set, requests must carry ``Authorization: Bearer <token>``."""
    rate_limited: int | None = None
    """403 or 429: every request is refused as over the rate limit."""
    max_per_page: int = 100
    """Lower it to make lists span many pages."""
    delay: float = 0.0
    reset_epoch: int = 1_900_000_000
    repos: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, str, int], list[dict[str, Any]]] = field(
        default_factory=dict
    )
    requests: list[RecordedRequest] = field(default_factory=list)

    # --- data ---------------------------------------------------------------

    def add_repo(self, owner: str, name: str, **extra: Any) -> None:
        self.repos[(owner, name)] = {
            "id": len(self.repos) + 1,
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": _user(owner),
            "private": False,
            "description": extra.get("description"),
            "html_url": f"https://github.com/{owner}/{name}",
            "default_branch": extra.get("default_branch", "main"),
            "stargazers_count": extra.get("stars", 0),
            "watchers_count": extra.get("stars", 0),
            "forks_count": extra.get("forks", 0),
            "open_issues_count": 0,
        }
        self.issues.setdefault((owner, name), [])
        self.pulls.setdefault((owner, name), [])
        self._count(owner, name)

    def _count(self, owner: str, name: str) -> None:
        open_items = [i for i in self.issues[(owner, name)] if i["state"] == "open"]
        self.repos[(owner, name)]["open_issues_count"] = len(open_items)

    def add_issue(
        self,
        owner: str,
        name: str,
        title: str,
        *,
        state: str = "open",
        body: str | None = None,
        author: str = "octocat",
        labels: tuple[str, ...] = (),
        pull: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An issue; with ``pull``, a pull request (listed as an issue too)."""
        items = self.issues[(owner, name)]
        number = len(items) + 1
        issue: dict[str, Any] = {
            "id": 1000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "user": _user(author),
            "labels": [{"name": label, "color": "ededed"} for label in labels],
            "comments": 0,
            "created_at": _stamp(number),
            "updated_at": _stamp(number),
            "closed_at": None if state == "open" else _stamp(number),
            "html_url": f"https://github.com/{owner}/{name}/issues/{number}",
        }
        if pull is not None:
            issue["html_url"] = f"https://github.com/{owner}/{name}/pull/{number}"
            issue["pull_request"] = {"html_url": issue["html_url"]}
            merged = pull.get("merged", False)
            self.pulls[(owner, name)].append(
                {
                    "id": 5000 + number,
                    "number": number,
                    "title": title,
                    "state": state,
                    "draft": pull.get("draft", False),
                    "user": _user(author),
                    "html_url": issue["html_url"],
                    "head": {"ref": pull["head"], "sha": "a" * 40, "label": "x"},
                    "base": {"ref": pull.get("base", "main"), "sha": "b" * 40},
                    "created_at": _stamp(number),
                    "updated_at": _stamp(number),
                    "closed_at": issue["closed_at"],
                    "merged_at": _stamp(number) if merged else None,
                }
            )
        items.append(issue)
        self._count(owner, name)
        return issue

    def add_comment(
        self, owner: str, name: str, number: int, body: str, author: str = "octocat"
    ) -> dict[str, Any]:
        thread = self.comments.setdefault((owner, name, number), [])
        comment_id = 9000 + sum(len(c) for c in self.comments.values())
        comment = {
            "id": comment_id,
            "body": body,
            "user": _user(author),
            "html_url": f"https://github.com/{owner}/{name}/issues/{number}#issuecomment-{comment_id}",
            "created_at": _stamp(len(thread) + 1),
            "updated_at": _stamp(len(thread) + 1),
        }
        thread.append(comment)
        for issue in self.issues[(owner, name)]:
            if issue["number"] == number:
                issue["comments"] += 1
        return comment

    # --- HTTP ---------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/repos/{owner}/{name}", self._repo)
        app.router.add_get("/repos/{owner}/{name}/issues", self._list_issues)
        app.router.add_post("/repos/{owner}/{name}/issues", self._create_issue)
        app.router.add_get("/repos/{owner}/{name}/issues/{number}", self._issue)
        app.router.add_get(
            "/repos/{owner}/{name}/issues/{number}/comments", self._list_comments
        )
        app.router.add_post(
            "/repos/{owner}/{name}/issues/{number}/comments", self._create_comment
        )
        app.router.add_get("/repos/{owner}/{name}/pulls", self._list_pulls)
        return app

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
            "X-RateLimit-Used": str(60 - remaining),
            "X-RateLimit-Resource": "core",
        }

    @web.middleware
    async def _gate(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if (
            self.token is not None
            and request.headers.get("Authorization") != f"Bearer {self.token}"
        ):
            return web.json_response(
                {"message": "Bad credentials", "documentation_url": _DOCS},
                status=401,
            )
        if self.rate_limited is not None:
            return web.json_response(
                {
                    "message": "API rate limit exceeded for 127.0.0.1.",
                    "documentation_url": _DOCS,
                },
                status=self.rate_limited,
                headers=self._rate_headers(0),
            )
        response = await handler(request)
        response.headers.update(self._rate_headers(59))
        return response

    def _key(self, request: web.Request) -> tuple[str, str]:
        key = (request.match_info["owner"], request.match_info["name"])
        if key not in self.repos:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Not Found", "documentation_url": _DOCS}),
                content_type="application/json",
            )
        return key

    def _page(self, request: web.Request, items: list[Any]) -> web.Response:
        per_page = min(int(request.query.get("per_page", "30")), self.max_per_page)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            url = request.url.update_query(page=str(number))
            return f'<{url}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        return web.json_response(chunk, headers=headers)

    @staticmethod
    def _state(request: web.Request, items: list[dict[str, Any]]) -> list[Any]:
        state = request.query.get("state", "open")
        chosen = [i for i in items if state == "all" or i["state"] == state]
        return sorted(chosen, key=lambda i: -i["number"])

    async def _repo(self, request: web.Request) -> web.Response:
        return web.json_response(self.repos[self._key(request)])

    async def _list_issues(self, request: web.Request) -> web.Response:
        return self._page(
            request, self._state(request, self.issues[self._key(request)])
        )

    async def _list_pulls(self, request: web.Request) -> web.Response:
        return self._page(request, self._state(request, self.pulls[self._key(request)]))

    def _find_issue(self, request: web.Request) -> dict[str, Any]:
        number = int(request.match_info["number"])
        for issue in self.issues[self._key(request)]:
            if issue["number"] == number:
                return issue
        raise web.HTTPNotFound(
            text='{"message": "Not Found"}', content_type="application/json"
        )

    async def _issue(self, request: web.Request) -> web.Response:
        return web.json_response(self._find_issue(request))

    async def _list_comments(self, request: web.Request) -> web.Response:
        issue = self._find_issue(request)
        owner, name = self._key(request)
        thread = self.comments.get((owner, name, issue["number"]), [])
        return self._page(request, thread)

    async def _create_issue(self, request: web.Request) -> web.Response:
        owner, name = self._key(request)
        payload = self.requests[-1].body or {}
        if payload.get("title") == "invalid":
            return web.json_response(
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "Issue", "code": "custom", "field": "title"}
                    ],
                    "documentation_url": _DOCS,
                },
                status=422,
            )
        issue = self.add_issue(
            owner,
            name,
            payload["title"],
            body=payload.get("body"),
            labels=tuple(payload.get("labels", ())),
        )
        return web.json_response(issue, status=201)

    async def _create_comment(self, request: web.Request) -> web.Response:
        issue = self._find_issue(request)
        owner, name = self._key(request)
        payload = self.requests[-1].body or {}
        comment = self.add_comment(owner, name, issue["number"], payload["body"])
        return web.json_response(comment, status=201)
