"""Paths stay inside the roots and outputs stay bounded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.local import LocalSubgraph
from subgraphs.git import create_subgraph
from subgraphs.git.remote_url import without_credentials
from tests.subgraphs.git.conftest import commit_file, git, run


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A repository next to the root, not under it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    git(directory, "init", "-q", "-b", "main")
    return Path(os.path.realpath(directory))


async def _code(local: LocalSubgraph, path: str) -> str | None:
    result = await run(
        local, "query($p: String) { repository(path: $p) { path } }", {"p": path}
    )
    if result.errors is None:
        return None
    assert result.data == {"repository": None}
    assert result.errors[0].path == ["repository"]
    return result.errors[0].extensions["code"]


async def test_absolute_path_outside_the_roots_is_forbidden(
    subgraph: LocalSubgraph, outside: Path
) -> None:
    assert await _code(subgraph, str(outside)) == "FORBIDDEN_PATH"
    assert await _code(subgraph, "/") == "FORBIDDEN_PATH"


async def test_dot_dot_path_escaping_the_root_is_forbidden(
    subgraph: LocalSubgraph, repo: Path, outside: Path
) -> None:
    assert await _code(subgraph, "../outside") == "FORBIDDEN_PATH"
    assert await _code(subgraph, "repo/../../outside") == "FORBIDDEN_PATH"
    # `..` that stays inside the root is fine.
    assert await _code(subgraph, "repo/src/..") is None


async def test_symlink_escaping_the_root_is_forbidden(
    subgraph: LocalSubgraph, root: Path, outside: Path
) -> None:
    (root / "link").symlink_to(outside)
    assert await _code(subgraph, "link") == "FORBIDDEN_PATH"
    assert await _code(subgraph, str(root / "link")) == "FORBIDDEN_PATH"


async def test_repository_whose_top_is_above_the_root_is_forbidden(
    outside: Path,
) -> None:
    inner = outside / "sub"
    inner.mkdir()
    local = create_subgraph({"roots": [str(inner)]})
    assert await _code(local, str(inner)) == "FORBIDDEN_PATH"


async def test_directory_that_is_not_a_repository_is_not_a_repository(
    subgraph: LocalSubgraph, root: Path
) -> None:
    (root / "plain").mkdir()
    assert await _code(subgraph, "plain") == "NOT_A_REPOSITORY"
    assert await _code(subgraph, "does-not-exist") == "NOT_A_REPOSITORY"


async def test_file_paths_cannot_leave_the_repository(
    subgraph: LocalSubgraph, repo: Path, root: Path
) -> None:
    (root / "secret.txt").write_text("secret\n")
    (repo / "escape").symlink_to(root / "secret.txt")
    query = """query($path: String!, $rev: String) { repository(path: "repo") {
        file(path: $path, rev: $rev) { text } } }"""
    for path, rev in [
        ("../secret.txt", None),
        ("../secret.txt", "HEAD"),
        ("/etc/passwd", None),
        ("src/../../secret.txt", None),
        ("escape", None),
    ]:
        result = await run(subgraph, query, {"path": path, "rev": rev})
        assert result.errors is not None, path
        assert result.errors[0].extensions["code"] == "FORBIDDEN_PATH", path
        assert result.data == {"repository": {"file": None}}


async def test_large_outputs_are_cut_and_flagged(
    root: Path, make_repo: Callable[[str], Path]
) -> None:
    local = create_subgraph({"roots": [str(root)], "max_output_bytes": 1024})
    repo = make_repo("big")
    big = "".join(f"line {i}\n" for i in range(2000))
    commit_file(repo, "big.txt", big, "big file")
    (repo / "big.txt").write_text(big.upper())
    for i in range(200):
        (repo / f"untracked-file-with-a-long-name-{i:04}.txt").write_text("x")
    result = await run(
        local,
        """{ repository(path: "big") {
            diff { truncated patch }
            file(path: "big.txt", rev: "HEAD") { truncated size text }
            worktree: file(path: "big.txt") { truncated size }
            status { truncated untracked { path } }
        } }""",
    )
    assert result.errors is None
    data = result.data["repository"]
    assert data["diff"]["truncated"] is True
    assert len(data["diff"]["patch"].encode()) <= 1024
    assert data["file"]["truncated"] is True
    assert data["file"]["size"] == len(big)
    assert data["file"]["text"] == big[:1024]
    assert data["worktree"] == {"truncated": True, "size": len(big)}
    assert data["status"]["truncated"] is True
    untracked = data["status"]["untracked"]
    assert 0 < len(untracked) < 200
    # Only whole records: every listed path is one of the files created.
    assert all(u["path"].startswith("untracked-file-with") for u in untracked)
    assert all(u["path"].endswith(".txt") for u in untracked)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"roots": []}, "non-empty"),
        ({"roots": ["/definitely/not/here"]}, "not a directory"),
        ({"max_output_bytes": "big"}, "integer"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"colour": "blue"}, "unknown git option"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
    ],
)
def test_bad_options_are_config_errors(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_subgraph(options)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:token@github.com/o/n.git", "https://github.com/o/n.git"),
        ("https://ghp_token@github.com/o/n.git", "https://github.com/o/n.git"),
        ("ssh://git:pw@host:22/o/n.git", "ssh://git@host:22/o/n.git"),
        ("ssh://git@host/o/n.git", "ssh://git@host/o/n.git"),
        ("git@github.com:o/n.git", "git@github.com:o/n.git"),
        ("/srv/mirror.git", "/srv/mirror.git"),
    ],
)
def test_remote_urls_lose_their_credentials(url: str, shown: str) -> None:
    assert without_credentials(url) == shown


async def test_page_sizes_are_checked_at_the_schema_edge(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    for first in ("null", "-1", "101", "2147483647"):
        result = await run(
            subgraph,
            f'{{ repository(path: "repo") {{ log(first: {first}) {{ hash }} }} }}',
        )
        assert result.errors is not None, first
        [error] = result.errors
        assert error.extensions["code"] == "BAD_USER_INPUT", first
        assert error.path == ["repository", "log"]
        assert "NoneType" not in error.message and "<=" not in error.message
    staged_null = await run(
        subgraph,
        '{ repository(path: "repo") { diff(staged: null) { files { path } } } }',
    )
    assert staged_null.errors is None
