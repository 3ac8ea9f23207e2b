"""Real git repositories in temporary directories, and a way to query the subgraph."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from graphql import ExecutionResult, graphql

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.git import create_subgraph

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Charles Babbage",
    "GIT_COMMITTER_EMAIL": "charles@example.com",
    "LC_ALL": "C",
}


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in ``repo`` as a user would (test set-up, not the code under test)."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def commit_file(repo: Path, name: str, content: str, message: str) -> str:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The configured root (a real path: tmp dirs may sit behind symlinks)."""
    directory = tmp_path / "root"
    directory.mkdir()
    return Path(os.path.realpath(directory))


@pytest.fixture
def make_repo(root: Path) -> Callable[[str], Path]:
    def make(name: str = "repo") -> Path:
        repo = root / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        return repo

    return make


@pytest.fixture
def repo(make_repo: Callable[[str], Path]) -> Path:
    """A repository with three commits on main and a branch ``feature``."""
    repo = make_repo("repo")
    commit_file(repo, "README.md", "hello\n", "first commit\n\nwith a body")
    commit_file(repo, "src/app.py", "print('a')\n", "add app")
    git(repo, "branch", "feature")
    commit_file(repo, "README.md", "hello\nworld\n", "third commit")
    return repo


async def run(
    local: LocalSubgraph, query: str, variables: Mapping[str, Any] | None = None
) -> ExecutionResult:
    assert local.context is not None
    return await graphql(
        local.schema,
        query,
        variable_values=dict(variables or {}),
        context_value=local.context(RequestContext()),
    )


@pytest.fixture
def subgraph(root: Path) -> LocalSubgraph:
    return create_subgraph({"roots": [str(root)], "poll_interval": 0.05})
