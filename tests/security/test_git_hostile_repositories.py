"""Threat model, git part: a repository cloned from anywhere cannot make the gateway
run a program, nor read files outside the roots (issue 10).

One test per vector. Each first proves the vector is live (the ``git`` command a
user would type falls for it and the marker appears), then asks the subgraph every
field of the repository and asserts the safe answer and that no marker exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from graphql import ExecutionResult, graphql

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from tests.security import hostile
from tests.security.hostile import EVERYTHING, SECRET, Lab


async def ask(
    local: LocalSubgraph, query: str, variables: Mapping[str, Any] | None = None
) -> ExecutionResult:
    assert local.context is not None
    return await graphql(
        local.schema,
        query,
        variable_values=dict(variables or {}),
        context_value=local.context(RequestContext()),
    )


async def everything(local: LocalSubgraph, path: str) -> dict[str, Any]:
    """Every field of the repository at ``path``; it must answer without errors."""
    result = await ask(local, EVERYTHING, {"path": path})
    assert result.errors is None, result.errors
    assert result.data is not None
    repository = result.data["repository"]
    assert isinstance(repository, dict)
    return repository


def _codes(result: ExecutionResult) -> set[str]:
    return {error.extensions["code"] for error in result.errors or ()}


# -- programs a repository chooses -------------------------------------------------


async def test_filter_driver_clean_and_smudge_never_run(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_filter_driver(lab)
    lab.control("filter", repo, "diff")
    data = await everything(git_subgraph, "filter")
    assert data["worktree"] == {"text": "three\n"}
    assert [f["path"] for f in data["unstaged"]["files"]] == ["a.txt"]
    assert "+three" in data["unstaged"]["patch"]
    assert lab.ran() == []


async def test_core_hooks_path_hooks_never_run(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_hooks(lab)
    lab.control("hook", repo, "status")
    (repo / "a.txt").write_text("touched again\n")
    data = await everything(git_subgraph, "hooks")
    assert data["status"]["unstaged"] == [{"path": "a.txt"}]
    assert lab.ran() == []


async def test_gpg_program_never_runs_for_a_signed_commit(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_gpg_program(lab)
    lab.control("gpg", repo, "log", "-1")
    data = await everything(git_subgraph, "gpg")
    assert data["head"]["subject"] == "second"
    assert [c["subject"] for c in data["log"]] == ["second", "first"]
    assert lab.ran() == []


async def test_partial_clone_never_fetches_through_upload_pack(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_partial_clone(lab)
    lab.control("uploadpack", repo, "show", "HEAD~1:a.txt")
    result = await ask(
        git_subgraph,
        """{ repository(path: "partial") {
            old: file(path: "a.txt", rev: "HEAD~1") { text }
            now: file(path: "a.txt", rev: "HEAD") { text }
            log { subject } } }""",
    )
    # The missing object is an error at its field; nothing was fetched.
    assert result.data == {
        "repository": {
            "old": None,
            "now": {"text": "two\n"},
            "log": [{"subject": "second"}, {"subject": "first"}],
        }
    }
    assert result.errors is not None
    [error] = result.errors
    assert error.path == ["repository", "old"]
    assert error.extensions["code"] == "GIT_ERROR"
    assert str(lab.outside) not in error.message
    await everything(git_subgraph, "partial")
    assert lab.ran() == []


async def test_core_fsmonitor_never_runs(lab: Lab, git_subgraph: LocalSubgraph) -> None:
    repo = hostile.build_fsmonitor(lab)
    lab.control("fsmonitor", repo, "status")
    await everything(git_subgraph, "fsmonitor")
    assert lab.ran() == []


async def test_core_pager_never_runs(lab: Lab, git_subgraph: LocalSubgraph) -> None:
    repo = hostile.build_pager(lab)
    lab.control_in_terminal("pager", repo, "log")
    await everything(git_subgraph, "pager")
    assert lab.ran() == []


async def test_diff_external_never_runs(lab: Lab, git_subgraph: LocalSubgraph) -> None:
    repo = hostile.build_diff_external(lab)
    lab.control("external", repo, "diff")
    data = await everything(git_subgraph, "external")
    assert "+three" in data["unstaged"]["patch"]
    assert lab.ran() == []


async def test_diff_driver_textconv_never_runs(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_textconv(lab)
    lab.control("textconv", repo, "diff")
    data = await everything(git_subgraph, "textconv")
    assert "+changed for textconv" in data["unstaged"]["patch"]
    assert lab.ran() == []


async def test_core_ssh_command_never_runs(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_ssh_command(lab)
    lab.control("ssh", repo, "ls-remote", "origin")
    data = await everything(git_subgraph, "ssh")
    assert data["remotes"] == [
        {"name": "origin", "url": "ssh://git@example.invalid/acme/x.git"}
    ]
    assert lab.ran() == []


async def test_include_path_settings_never_run_anything(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_include_path(lab)
    lab.control("include", repo, "status")
    await everything(git_subgraph, "include")
    assert lab.ran() == []


async def test_credential_helper_never_runs(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = hostile.build_credential_helper(lab)
    lab.control(
        "credential",
        repo,
        "credential",
        "fill",
        stdin="protocol=https\nhost=github.com\n\n",
    )
    data = await everything(git_subgraph, "credential")
    assert data["github"] == {"owner": "acme", "name": "widgets"}
    assert lab.ran() == []


async def test_git_environment_variables_of_the_gateway_are_ignored(
    lab: Lab, git_subgraph: LocalSubgraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = lab.repository("env-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    lab.repository("plain")
    program = lab.program("env")
    for name, value in {
        "GIT_DIR": secret / ".git",
        "GIT_WORK_TREE": secret,
        "GIT_COMMON_DIR": secret / ".git",
        "GIT_OBJECT_DIRECTORY": secret / ".git" / "objects",
        "GIT_INDEX_FILE": secret / ".git" / "index",
        "GIT_CONFIG_PARAMETERS": f"'core.fsmonitor'='{program}'",
        "GIT_EXTERNAL_DIFF": program,
        "GIT_PAGER": program,
    }.items():
        monkeypatch.setenv(name, str(value))
    data = await everything(git_subgraph, "plain")
    assert data["path"] == str(lab.root / "plain")
    assert [c["subject"] for c in data["log"]] == ["second", "first"]
    assert SECRET not in str(data)
    assert lab.ran() == []


async def test_the_users_global_and_system_config_is_never_read(
    lab: Lab, git_subgraph: LocalSubgraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = lab.program("global")
    home = lab.outside / "home"
    (home / ".config" / "git").mkdir(parents=True)
    hostile_config = (
        f"[core]\n\tfsmonitor = {program}\n\tpager = {program}\n"
        f"\thooksPath = {lab.bin}\n[diff]\n\texternal = {program}\n"
        f'[remote "origin"]\n\turl = https://{SECRET}@example.com/x.git\n'
    )
    (home / ".gitconfig").write_text(hostile_config)
    (home / ".config" / "git" / "config").write_text(hostile_config)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(home / ".gitconfig"))
    # Empty search paths must not mean "the current directory" either.
    (home / "gitconfig").write_text(hostile_config)
    (home / "git").symlink_to(home / ".config" / "git")
    monkeypatch.chdir(home)
    lab.repository("plain")
    data = await everything(git_subgraph, "plain")
    assert data["remotes"] == []  # the global [remote "origin"] was not read
    assert lab.ran() == []


# -- files outside the roots ---------------------------------------------------------


async def _forbidden(local: LocalSubgraph, path: str) -> None:
    result = await ask(local, EVERYTHING, {"path": path})
    assert result.data == {"repository": None}
    assert _codes(result) == {"FORBIDDEN_PATH"}
    assert SECRET not in str(result.errors)


async def test_a_git_file_pointing_outside_the_roots_is_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_gitdir_outside(lab)
    await _forbidden(git_subgraph, "pointer")
    result = await ask(git_subgraph, EVERYTHING, {"path": "pointer"})
    [error] = result.errors or []
    # The message names the path the client sent, never a server path.
    assert "'pointer'" in error.message
    assert str(lab.outside) not in error.message
    assert str(lab.root) not in error.message


async def test_a_worktree_of_a_repository_outside_the_roots_is_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_worktree_of_outside_repository(lab)
    await _forbidden(git_subgraph, "worktree")


async def test_a_common_directory_outside_the_roots_is_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_commondir_outside(lab)
    await _forbidden(git_subgraph, "linked")


async def test_alternates_outside_the_roots_are_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_alternates_outside(lab)
    await _forbidden(git_subgraph, "borrower")


async def test_core_worktree_outside_the_roots_is_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_core_worktree_outside(lab)
    await _forbidden(git_subgraph, "relocated")


async def test_a_submodule_whose_repository_is_outside_the_roots_is_forbidden(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    hostile.build_submodule_outside(lab)
    # What does not open the submodule still answers ...
    fine = await ask(
        git_subgraph,
        '{ repository(path: "super") { currentBranch log(first: 1) { subject } } }',
    )
    assert fine.errors is None
    assert fine.data == {
        "repository": {"currentBranch": "main", "log": [{"subject": "vendor"}]}
    }
    # ... status and diff, which would open it, do not.
    for field in ("status { clean }", "diff { patch }"):
        result = await ask(
            git_subgraph, f'{{ repository(path: "super") {{ {field} }} }}'
        )
        assert result.data == {"repository": None}
        assert _codes(result) == {"FORBIDDEN_PATH"}, field
        assert SECRET not in str(result)


async def test_a_submodule_inside_the_roots_is_read(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    library = lab.repository("library")
    lab.git(library, "commit", "-q", "-am", "library")
    repo = lab.repository("app")
    lab.git(
        repo,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        str(library),
        "lib",
    )
    (repo / "lib" / "a.txt").write_text("edited in the submodule\n")
    data = await everything(git_subgraph, "app")
    assert {"path": "lib"} in data["status"]["unstaged"]


async def test_a_watched_repository_whose_git_file_is_swapped_ends_forbidden(
    lab: Lab,
) -> None:
    from graphql import parse, subscribe

    from subgraphs.git import create_subgraph

    local = create_subgraph({"roots": [str(lab.root)], "poll_interval": 0.05})
    secret = lab.repository("watch-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    repo = lab.repository("watched")
    assert local.context is not None
    stream: Any = await subscribe(
        local.schema,
        parse('subscription { repositoryChanged(path: "watched") { head } }'),
        context_value=local.context(RequestContext()),
    )
    try:
        (repo / ".git").rename(lab.outside / "watched-git")
        (repo / ".git").write_text(f"gitdir: {secret / '.git'}\n")
        result = await asyncio.wait_for(anext(stream), 20)
        assert result.data is None
        assert _codes(result) == {"FORBIDDEN_PATH"}
        assert SECRET not in str(result)
    finally:
        await stream.aclose()


async def test_a_git_file_swapped_after_opening_is_refused_at_the_next_read(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    """The check is made again at every read, not only when the path is opened."""
    secret = lab.repository("swap-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    repo = lab.repository("swapped")
    result = await ask(
        git_subgraph,
        '{ repository(path: "swapped") { log(first: 1) { subject } } }',
    )
    assert result.errors is None
    assert git_subgraph.context is not None
    service = git_subgraph.context(RequestContext()).service
    opened = await service.open("swapped")
    (repo / ".git").rename(lab.outside / "moved-git")
    (repo / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    with pytest.raises(Exception) as raised:
        await opened.log(5)
    assert getattr(raised.value, "extensions", {}).get("code") == "FORBIDDEN_PATH"
    assert SECRET not in str(raised.value)


async def test_files_inside_dot_git_are_never_read(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    repo = lab.repository("creds")
    lab.git(repo, "remote", "add", "origin", f"https://x:{SECRET}@example.com/a.git")
    (repo / "config-link").symlink_to(repo / ".git" / "config")
    (repo / "sub").mkdir()
    attempts = [
        ".git/config",
        "./.git/config",
        "sub/../.git/config",
        ".GIT/config",
        ".git",
        "config-link",
    ]
    for path in attempts:
        for rev in (None, "HEAD"):
            result = await ask(
                git_subgraph,
                """query($path: String!, $rev: String) { repository(path: "creds") {
                    file(path: $path, rev: $rev) { text } } }""",
                {"path": path, "rev": rev},
            )
            if rev == "HEAD" and path == "config-link":
                # Not in the commit: null, and nothing read.
                assert result.data == {"repository": {"file": None}}, path
                continue
            assert result.data == {"repository": {"file": None}}, (path, rev)
            assert _codes(result) == {"FORBIDDEN_PATH"}, (path, rev)
    diff = await ask(
        git_subgraph, '{ repository(path: "creds") { diff(path: ".git") { patch } } }'
    )
    assert _codes(diff) == {"FORBIDDEN_PATH"}
    for path in ("creds/.git", "creds/.git/objects"):
        inside = await ask(git_subgraph, EVERYTHING, {"path": path})
        assert inside.data == {"repository": None}
        assert _codes(inside) == {"FORBIDDEN_PATH"}
    # The remote's password never shows either.
    data = await everything(git_subgraph, "creds")
    assert SECRET not in str(data)
    assert data["remotes"] == [{"name": "origin", "url": "https://example.com/a.git"}]


async def test_path_errors_show_the_path_sent_never_a_server_path(
    lab: Lab, git_subgraph: LocalSubgraph
) -> None:
    (lab.root / "plain").mkdir()
    for path, code in [
        ("plain", "NOT_A_REPOSITORY"),
        ("missing", "NOT_A_REPOSITORY"),
        (None, "NOT_A_REPOSITORY"),
        ("x" * 5000, "BAD_USER_INPUT"),
        ("/".join(["y" * 300] * 3), "NOT_A_REPOSITORY"),
        ("../outside", "FORBIDDEN_PATH"),
    ]:
        result = await ask(git_subgraph, EVERYTHING, {"path": path})
        assert _codes(result) == {code}, path
        [error] = result.errors or []
        assert str(lab.root) not in error.message, error.message
        assert "Errno" not in error.message
