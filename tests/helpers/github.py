"""A git workspace and a fake GitHub for end-to-end tests, and the three-subgraph query."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.subgraphs.github.fake_github import FakeGitHub

__all__ = [
    "THREE_SUBGRAPHS",
    "TOKEN",
    "AiohttpServer",
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
