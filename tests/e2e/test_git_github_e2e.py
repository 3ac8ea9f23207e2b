"""One query through claude, git and github: a real gateway, a real git repository,
a fake GitHub REST API on loopback, and curl.

The query is the one issue 5 promises users: a session's Claude UUID, the git
repository of its working directory, and that repository's open pull requests.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.e2e.conftest import StartGateway
from tests.e2e.test_claude_e2e import (
    INPROCESS,
    assert_no_traceback,
    create_session,
    curl_graphql,
    fake_claude,
    inprocess_env,
)
from tests.subgraphs.github.fake_github import FakeGitHub

__all__ = [
    "THREE_SUBGRAPHS",
    "Workspace",
    "expected_answer",
    "fake_github",
    "make_workspace",
]

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]

TOKEN = "e2e-token"
THREE_SUBGRAPHS = """
query($id: ID!) {
  session(id: $id) {
    claudeSessionId
    repository {
      currentBranch
      status { unstaged { path } }
      github { pullRequests(state: OPEN, first: 5) { number title } }
    }
  }
}
"""


@dataclass(frozen=True, slots=True)
class Workspace:
    root: Path
    """The only git root the gateway may read."""
    repo: Path
    """acme/widgets: branch ``feature/sprockets``, README.md modified."""
    outside: Path
    """A repository outside the root."""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=E2E",
            "-c",
            "user.email=e2e@example.com",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
    )


def _init_repo(path: Path, origin: str) -> None:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "README.md").write_text("# widgets\n")
    (path / "setup.cfg").write_text("[metadata]\nname = widgets\n")
    _git(path, "add", "README.md", "setup.cfg")
    _git(path, "commit", "-q", "-m", "Initial commit")
    _git(path, "remote", "add", "origin", origin)


def make_workspace(tmp_path: Path) -> Workspace:
    """A real repository with one commit on a branch, a modified tracked file, an
    untracked file and a github.com origin; another repository outside the root."""
    root = tmp_path / "repos"
    repo = root / "widgets"
    _init_repo(repo, "https://github.com/acme/widgets.git")
    _git(repo, "checkout", "-q", "-b", "feature/sprockets")
    (repo / "README.md").write_text("# widgets\n\nNow with sprockets.\n")
    (repo / "notes.txt").write_text("untracked\n")
    outside = tmp_path / "elsewhere" / "secret"
    _init_repo(outside, "git@github.com:acme/secret.git")
    return Workspace(root, repo, outside)


def fake_github(token: str = TOKEN) -> FakeGitHub:
    """acme/widgets with two open pull requests, a closed one and an issue."""
    github = FakeGitHub(token=token)
    github.add_repo("acme", "widgets", description="Widgets, sprockets included")
    github.add_issue(
        "acme", "widgets", "Add sprockets", pull={"head": "feature/sprockets"}
    )
    github.add_issue(
        "acme", "widgets", "Old idea", state="closed", pull={"head": "old"}
    )
    github.add_issue("acme", "widgets", "Sprockets squeak")
    github.add_issue("acme", "widgets", "Fix gears", pull={"head": "fix/gears"})
    return github


def expected_answer(claude_session_id: str) -> dict[str, Any]:
    """The exact answer to ``THREE_SUBGRAPHS`` for ``make_workspace`` and
    ``fake_github``."""
    return {
        "data": {
            "session": {
                "claudeSessionId": claude_session_id,
                "repository": {
                    "currentBranch": "feature/sprockets",
                    "status": {"unstaged": [{"path": "README.md"}]},
                    "github": {
                        "pullRequests": [
                            {"number": 4, "title": "Fix gears"},
                            {"number": 1, "title": "Add sprockets"},
                        ]
                    },
                },
            }
        }
    }


async def test_one_query_walks_claude_git_and_github(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github()
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            github_token=TOKEN,
        ),
    )
    session = await create_session(gateway, workspace.repo)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert (answer.status, answer.body) == (
        200,
        expected_answer(session["claudeSessionId"]),
    )
    # Only the pull requests were fetched from GitHub, with the configured token.
    assert [(r.method, r.path, r.query.get("state")) for r in github.requests] == [
        ("GET", "/repos/acme/widgets/pulls", "open")
    ]
    assert github.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert github.requests[0].headers["Accept"] == "application/vnd.github+json"
    assert_no_traceback(gateway)


async def test_a_working_directory_outside_the_roots_is_forbidden_at_its_path(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github()
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            claude_root=tmp_path,  # claude may use a directory that git may not
        ),
    )
    session = await create_session(gateway, workspace.outside)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert answer.status == 200
    assert answer.data == {
        "session": {"claudeSessionId": session["claudeSessionId"], "repository": None}
    }
    [error] = answer.body["errors"]
    assert error["path"] == ["session", "repository"]
    assert error["extensions"]["code"] == "FORBIDDEN_PATH"

    # The same through git's own root field, next to a claude field that still answers.
    escaping = await curl_graphql(
        gateway.url,
        '{ activeSessions { id } repository(path: "../elsewhere/secret")'
        " { currentBranch } }",
    )
    assert escaping.status == 200
    assert escaping.data == {
        "activeSessions": [{"id": session["id"]}],
        "repository": None,
    }
    [error] = escaping.body["errors"]
    assert error["path"] == ["repository"]
    assert error["extensions"]["code"] == "FORBIDDEN_PATH"

    # A directory under the root that is in no work tree: null, and no error.
    plain = workspace.root / "not-a-repo"
    plain.mkdir()
    elsewhere = await create_session(gateway, plain)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": elsewhere["id"]})
    assert answer.body == {
        "data": {
            "session": {
                "claudeSessionId": elsewhere["claudeSessionId"],
                "repository": None,
            }
        }
    }
    assert github.requests == []
    assert_no_traceback(gateway)


async def test_github_401_is_unauthenticated_at_the_github_path_and_git_data_stays(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github(token="the-right-token")
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            github_token="a-revoked-token",
        ),
    )
    session = await create_session(gateway, workspace.repo)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert answer.status == 200
    assert answer.data == {
        "session": {
            "claudeSessionId": session["claudeSessionId"],
            "repository": {
                "currentBranch": "feature/sprockets",
                "status": {"unstaged": [{"path": "README.md"}]},
                "github": None,
            },
        }
    }
    [error] = answer.body["errors"]
    assert error["path"] == ["session", "repository", "github", "pullRequests"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["http"]["status"] == 401
    assert [r.path for r in github.requests] == ["/repos/acme/widgets/pulls"]
    assert_no_traceback(gateway)
