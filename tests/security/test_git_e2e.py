"""Threat model, git part, end to end: a real ``gateway serve`` over a root of
hostile repositories, with a hostile global git config and ``GIT_*`` variables in
its environment, answers safely over HTTP and runs nothing (issue 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.processes import ROOT, GatewayProcess, StartGateway
from tests.security import hostile
from tests.security.hostile import EVERYTHING, SECRET, Lab

CONFIG = Path(__file__).parent / "configs" / "git.yaml"


async def _post(gateway: GatewayProcess, query: str, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gateway.url,
            json={"query": query, "variables": {"path": path}},
            headers={"Accept": "application/json"},
        ) as response,
    ):
        assert response.status == 200
        body = await response.json()
        assert isinstance(body, dict)
        return body


def _hostile_environment(lab: Lab, tmp_path: Path) -> dict[str, str]:
    """A global config, system config and ``GIT_*`` variables that would each run
    the program or redirect git to a repository outside the root."""
    program = lab.program("environment")
    home = lab.outside / "home"
    (home / ".config" / "git").mkdir(parents=True)
    config = (
        f"[core]\n\tfsmonitor = {program}\n\tpager = {program}\n"
        f"\thooksPath = {lab.bin}\n[diff]\n\texternal = {program}\n"
        f'[filter "evil"]\n\tclean = {program}\n\tsmudge = {program}\n'
    )
    (home / ".gitconfig").write_text(config)
    (home / ".config" / "git" / "config").write_text(config)
    secret = lab.repository("env-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    return {
        "SECURITY_GIT_ROOT": str(lab.root),
        "SECURITY_CLAUDE_CLI": str(ROOT / "scripts" / "fake-claude"),
        "SECURITY_CLAUDE_DB": str(tmp_path / "claude.db"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_SYSTEM": str(home / ".gitconfig"),
        "GIT_CONFIG_PARAMETERS": f"'core.fsmonitor'='{program}'",
        "GIT_DIR": str(secret / ".git"),
        "GIT_WORK_TREE": str(secret),
        "GIT_PAGER": str(program),
        "GIT_EXTERNAL_DIFF": str(program),
    }


async def test_hostile_repositories_run_nothing_through_a_real_gateway(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    lab = hostile.make_lab(tmp_path / "lab")
    lab.control("filter", hostile.build_filter_driver(lab), "diff")
    lab.control("hook", hostile.build_hooks(lab), "status")
    lab.control("fsmonitor", hostile.build_fsmonitor(lab), "status")
    lab.control("include", hostile.build_include_path(lab), "status")
    hostile.build_textconv(lab)
    hostile.build_diff_external(lab)
    hostile.build_gpg_program(lab)
    lab.control("gpg", lab.root / "gpg", "log", "-1")
    gateway = await start_gateway(CONFIG, env=_hostile_environment(lab, tmp_path))
    for name in (
        "filter",
        "hooks",
        "fsmonitor",
        "include",
        "textconv",
        "external",
        "gpg",
    ):
        body = await _post(gateway, EVERYTHING, name)
        assert "errors" not in body, (name, body)
        repository = body["data"]["repository"]
        assert repository["path"] == str(lab.root / name)
        assert repository["unstaged"]["files"], name
        assert SECRET not in str(body)
    assert lab.ran() == []
    assert "Traceback" not in gateway.output()


async def test_partial_clone_is_never_fetched_through_a_real_gateway(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    lab = hostile.make_lab(tmp_path / "lab")
    repo = hostile.build_partial_clone(lab)
    lab.control("uploadpack", repo, "show", "HEAD~1:a.txt")
    gateway = await start_gateway(CONFIG, env=_hostile_environment(lab, tmp_path))
    body = await _post(
        gateway,
        """query($path: String) { repository(path: $path) {
            file(path: "a.txt", rev: "HEAD~1") { text } } }""",
        "partial",
    )
    assert body["data"] == {"repository": {"file": None}}
    [error] = body["errors"]
    assert error["path"] == ["repository", "file"]
    assert error["extensions"]["code"] == "GIT_ERROR"
    assert lab.ran() == []


async def test_repositories_outside_the_roots_and_dot_git_stay_unread_through_a_real_gateway(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    lab = hostile.make_lab(tmp_path / "lab")
    hostile.build_gitdir_outside(lab)
    hostile.build_commondir_outside(lab)
    creds = lab.repository("creds")
    lab.git(creds, "remote", "add", "origin", f"https://x:{SECRET}@example.com/a.git")
    gateway = await start_gateway(CONFIG, env=_hostile_environment(lab, tmp_path))
    for path in ("pointer", "linked", "creds/.git"):
        body = await _post(gateway, EVERYTHING, path)
        assert body["data"] == {"repository": None}, path
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN_PATH", path
        assert str(lab.outside) not in error["message"]
        assert str(lab.root) not in error["message"]
        assert SECRET not in str(body)
    config = await _post(
        gateway,
        """query($path: String) { repository(path: $path) {
            file(path: ".git/config") { text } remotes { url } } }""",
        "creds",
    )
    assert config["data"] == {
        "repository": {"file": None, "remotes": [{"url": "https://example.com/a.git"}]}
    }
    assert [e["extensions"]["code"] for e in config["errors"]] == ["FORBIDDEN_PATH"]
    assert SECRET not in str(config)
    assert lab.ran() == []


async def test_bad_arguments_and_paths_answer_codes_without_server_details(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    lab = hostile.make_lab(tmp_path / "lab")
    lab.repository("plain")
    (lab.root / "not-a-repo").mkdir()
    gateway = await start_gateway(CONFIG, env=_hostile_environment(lab, tmp_path))
    cases = [
        (
            "query($path: String) { repository(path: $path) { log(first: null) { hash } } }",
            "plain",
            "BAD_USER_INPUT",
        ),
        (
            "query($path: String) { repository(path: $path) { log(first: -1) { hash } } }",
            "plain",
            "BAD_USER_INPUT",
        ),
        (
            "query($path: String) { repository(path: $path) { path } }",
            "x" * 5000,
            "BAD_USER_INPUT",
        ),
        (
            "query($path: String) { repository(path: $path) { path } }",
            "not-a-repo",
            "NOT_A_REPOSITORY",
        ),
        (
            "query($path: String) { repository(path: $path) { path } }",
            "/etc",
            "FORBIDDEN_PATH",
        ),
    ]
    for query, path, code in cases:
        body = await _post(gateway, query, path)
        [error] = body["errors"]
        assert error["extensions"]["code"] == code, (path[:20], body)
        for leak in (str(lab.root), "Errno", "NoneType", "Traceback", "<="):
            assert leak not in error["message"], (leak, error["message"])
    assert "Traceback" not in gateway.output()
