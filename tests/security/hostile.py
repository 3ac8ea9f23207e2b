"""Hostile repositories, built in a temporary directory with the ``git`` CLI.

Each builder makes a repository under ``lab.root`` whose configuration, attributes
or ``.git`` file tries to make whoever reads it run a program (``lab.program``: a
script that creates a marker file) or read files outside the roots. The test set-up
runs ``git`` itself (the product never does); ``lab.control`` runs the git command
that would fall for the vector, to prove the vector is live before the subgraph is
shown to ignore it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EVERYTHING",
    "SECRET",
    "Lab",
    "build_alternates_outside",
    "build_commondir_outside",
    "build_core_worktree_outside",
    "build_credential_helper",
    "build_diff_external",
    "build_filter_driver",
    "build_fsmonitor",
    "build_gitdir_outside",
    "build_gpg_program",
    "build_hooks",
    "build_include_path",
    "build_pager",
    "build_partial_clone",
    "build_ssh_command",
    "build_submodule_outside",
    "build_textconv",
    "build_worktree_of_outside_repository",
    "make_lab",
]

SECRET = "s3cret-token-7f1d"
"""Written in files that must never reach a client."""

EVERYTHING = """query($path: String) { repository(path: $path) {
    path currentBranch
    head { hash subject author { name } }
    branches { name current upstream }
    remotes { name url }
    status { clean staged { path } unstaged { path } untracked { path } }
    log(first: 5) { subject }
    unstaged: diff { patch files { path additions deletions } }
    staged: diff(staged: true) { patch files { path } }
    worktree: file(path: "a.txt") { text }
    committed: file(path: "a.txt", rev: "HEAD") { text }
    github { owner name }
} }"""
"""Every field of a repository: what a client could ask of a hostile one."""

_HOOKS = (
    "post-index-change",
    "pre-commit",
    "post-checkout",
    "reference-transaction",
    "pre-auto-gc",
    "fsmonitor-watchman",
    "post-rewrite",
)


@dataclass(frozen=True, slots=True)
class Lab:
    root: Path
    """The only directory the subgraph may read."""
    outside: Path
    """Somewhere else (a real path)."""
    bin: Path
    markers: Path

    @property
    def env(self) -> dict[str, str]:
        """The test's own git: no global or system config of the machine."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Mallory",
            "GIT_AUTHOR_EMAIL": "mallory@example.com",
            "GIT_COMMITTER_NAME": "Mallory",
            "GIT_COMMITTER_EMAIL": "mallory@example.com",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    def git(
        self, repo: Path, *args: str, check: bool = True, stdin: str | None = None
    ) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            env=self.env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def program(self, name: str) -> Path:
        """A script that leaves ``markers/<name>`` behind when anything runs it."""
        script = self.bin / name
        script.write_text(
            f"#!/bin/sh\ntouch {shlex.quote(str(self.markers / name))}\nexit 0\n"
        )
        script.chmod(0o755)
        return script

    def marker(self, name: str) -> Path:
        return self.markers / name

    def ran(self) -> list[str]:
        """Names of the programs that ran."""
        return sorted(path.name for path in self.markers.iterdir())

    def control(
        self, name: str, repo: Path, *args: str, stdin: str | None = None
    ) -> None:
        """Run ``git args`` as a user would: the vector must fire (then the marker
        is removed again)."""
        self.git(repo, *args, check=False, stdin=stdin)
        assert self.marker(name).exists(), f"git {' '.join(args)} did not run {name}"
        self.marker(name).unlink()

    def control_in_terminal(self, name: str, repo: Path, *args: str) -> None:
        """As ``control``, with stdout on a terminal (git starts a pager only then)."""
        master, slave = os.openpty()
        try:
            subprocess.run(
                ["git", "-C", str(repo), *args],
                env={**self.env, "TERM": "dumb"},
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=slave,
                check=False,
                timeout=60,
            )
        finally:
            os.close(slave)
            os.close(master)
        assert self.marker(name).exists(), f"git {' '.join(args)} did not run {name}"
        self.marker(name).unlink()

    def repository(self, name: str, parent: Path | None = None) -> Path:
        """A repository with two commits, ``a.txt`` modified in the working tree,
        ``b.txt`` staged and ``c.txt`` untracked."""
        repo = (parent or self.root) / name
        repo.mkdir(parents=True)
        self.git(repo, "init", "-q", "-b", "main")
        (repo / "a.txt").write_text("one\n")
        self.git(repo, "add", "a.txt")
        self.git(repo, "commit", "-q", "-m", "first")
        (repo / "a.txt").write_text("two\n")
        self.git(repo, "commit", "-q", "-am", "second")
        (repo / "a.txt").write_text("three\n")
        (repo / "b.txt").write_text("staged\n")
        self.git(repo, "add", "b.txt")
        (repo / "c.txt").write_text("untracked\n")
        return repo


def make_lab(tmp_path: Path) -> Lab:
    base = Path(os.path.realpath(tmp_path))
    lab = Lab(
        root=base / "root",
        outside=base / "outside",
        bin=base / "bin",
        markers=base / "markers",
    )
    for directory in (lab.root, lab.outside, lab.bin, lab.markers):
        directory.mkdir(parents=True)
    return lab


def _config(lab: Lab, repo: Path, settings: Mapping[str, str]) -> None:
    """Set last: the test's own git commands above must not fall for them."""
    for key, value in settings.items():
        lab.git(repo, "config", key, value)


def _commit_attributes(lab: Lab, repo: Path, text: str) -> None:
    (repo / ".gitattributes").write_text(text)
    lab.git(repo, "add", ".gitattributes")
    lab.git(repo, "commit", "-q", "-m", "attributes")


def build_filter_driver(lab: Lab) -> Path:
    """``.gitattributes`` ``filter=evil`` with clean, smudge and process commands."""
    repo = lab.repository("filter")
    _commit_attributes(lab, repo, "*.txt filter=evil\n")
    program = str(lab.program("filter"))
    _config(
        lab,
        repo,
        {
            "filter.evil.clean": program,
            "filter.evil.smudge": program,
            "filter.evil.process": program,
        },
    )
    return repo


def build_hooks(lab: Lab) -> Path:
    """``core.hooksPath`` to a directory where every hook runs the program."""
    repo = lab.repository("hooks")
    hooks = lab.outside / "hooks"
    hooks.mkdir()
    program = lab.program("hook")
    for hook in _HOOKS:
        (hooks / hook).symlink_to(program)
    _config(lab, repo, {"core.hooksPath": str(hooks)})
    return repo


def build_gpg_program(lab: Lab) -> Path:
    """A commit with a (fake) signature, ``log.showSignature`` and ``gpg.program``."""
    repo = lab.repository("gpg")
    raw = lab.git(repo, "cat-file", "commit", "HEAD")
    header, _, message = raw.partition("\n\n")
    signature = (
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEz\n -----END PGP SIGNATURE-----"
    )
    signed = f"{header}\n{signature}\n\n{message}"
    commit = lab.git(repo, "hash-object", "-t", "commit", "-w", "--stdin", stdin=signed)
    lab.git(repo, "update-ref", "HEAD", commit.strip())
    _config(
        lab,
        repo,
        {"log.showSignature": "true", "gpg.program": str(lab.program("gpg"))},
    )
    return repo


def build_partial_clone(lab: Lab) -> Path:
    """A blob-less partial clone whose ``remote.origin.uploadpack`` is the program:
    reading an old file makes git fetch it from the promisor remote."""
    source = lab.repository("source", parent=lab.outside)
    lab.git(source, "config", "uploadpack.allowFilter", "true")
    repo = lab.root / "partial"
    lab.git(
        lab.root,
        "clone",
        "-q",
        "--filter=blob:none",
        "--no-local",
        f"file://{source}",
        str(repo),
    )
    _config(lab, repo, {"remote.origin.uploadpack": str(lab.program("uploadpack"))})
    return repo


def build_fsmonitor(lab: Lab) -> Path:
    repo = lab.repository("fsmonitor")
    _config(lab, repo, {"core.fsmonitor": str(lab.program("fsmonitor"))})
    return repo


def build_pager(lab: Lab) -> Path:
    repo = lab.repository("pager")
    program = str(lab.program("pager"))
    _config(lab, repo, {"core.pager": program, "pager.log": program})
    return repo


def build_diff_external(lab: Lab) -> Path:
    repo = lab.repository("external")
    _config(lab, repo, {"diff.external": str(lab.program("external"))})
    return repo


def build_textconv(lab: Lab) -> Path:
    repo = lab.repository("textconv")
    _commit_attributes(lab, repo, "*.txt diff=conv\n")
    (repo / "a.txt").write_text("changed for textconv\n")
    _config(lab, repo, {"diff.conv.textconv": str(lab.program("textconv"))})
    return repo


def build_ssh_command(lab: Lab) -> Path:
    repo = lab.repository("ssh")
    lab.git(repo, "remote", "add", "origin", "ssh://git@example.invalid/acme/x.git")
    _config(lab, repo, {"core.sshCommand": str(lab.program("ssh"))})
    return repo


def build_include_path(lab: Lab) -> Path:
    """``include.path`` to a config outside the roots that sets ``core.fsmonitor``
    and ``core.pager``."""
    repo = lab.repository("include")
    program = lab.program("include")
    included = lab.outside / "evil.gitconfig"
    included.write_text(f"[core]\n\tfsmonitor = {program}\n\tpager = {program}\n")
    _config(lab, repo, {"include.path": str(included)})
    return repo


def build_credential_helper(lab: Lab) -> Path:
    repo = lab.repository("credential")
    lab.git(repo, "remote", "add", "origin", "https://github.com/acme/widgets.git")
    _config(lab, repo, {"credential.helper": f"!{lab.program('credential')}"})
    return repo


def build_gitdir_outside(lab: Lab) -> Path:
    """A directory in the root whose ``.git`` file points at a repository outside."""
    secret = lab.repository("secret", parent=lab.outside)
    (secret / "a.txt").write_text(f"{SECRET}\n")
    lab.git(secret, "commit", "-q", "-am", f"add {SECRET}")
    inner = lab.root / "pointer"
    inner.mkdir()
    (inner / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    (inner / "a.txt").write_text("innocent\n")
    return inner


def build_worktree_of_outside_repository(lab: Lab) -> Path:
    """``git worktree add`` of a repository outside, into the root."""
    secret = lab.repository("wt-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    worktree = lab.root / "worktree"
    lab.git(secret, "worktree", "add", "-q", str(worktree))
    return worktree


def build_commondir_outside(lab: Lab) -> Path:
    """A linked worktree whose git directory is in the root but whose
    ``commondir`` is a repository outside."""
    secret = lab.repository("cd-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    worktree = lab.root / "linked"
    lab.git(secret, "worktree", "add", "-q", str(worktree))
    private = secret / ".git" / "worktrees" / "linked"
    moved = lab.root / "linked-gitdir"
    private.rename(moved)
    (moved / "commondir").write_text(f"{secret / '.git'}\n")
    (worktree / ".git").write_text(f"gitdir: {moved}\n")
    return worktree


def build_alternates_outside(lab: Lab) -> Path:
    """A repository that borrows its objects from one outside the roots."""
    secret = lab.repository("alt-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    repo = lab.root / "borrower"
    repo.mkdir()
    lab.git(repo, "init", "-q", "-b", "main")
    alternates = repo / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(f"{secret / '.git' / 'objects'}\n")
    head = lab.git(secret, "rev-parse", "HEAD").strip()
    lab.git(repo, "update-ref", "refs/heads/main", head)
    return repo


def build_core_worktree_outside(lab: Lab) -> Path:
    """``core.worktree`` naming a directory outside the roots."""
    repo = lab.repository("relocated")
    secret = lab.outside / "tree"
    secret.mkdir()
    (secret / "a.txt").write_text(f"{SECRET}\n")
    _config(lab, repo, {"core.worktree": str(secret)})
    return repo


def build_submodule_outside(lab: Lab) -> Path:
    """A submodule whose ``.git`` file points at a repository outside the roots
    (libgit2 opens a submodule's repository to tell whether it changed)."""
    secret = lab.repository("sub-secret", parent=lab.outside)
    lab.git(secret, "commit", "-q", "-am", f"commit {SECRET}")
    head = lab.git(secret, "rev-parse", "HEAD").strip()
    repo = lab.repository("super")
    (repo / ".gitmodules").write_text(
        '[submodule "vendor"]\n\tpath = vendor\n\turl = https://example.invalid/v.git\n'
    )
    lab.git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor")
    lab.git(repo, "add", ".gitmodules")
    lab.git(repo, "commit", "-q", "-m", "vendor")
    (repo / "vendor").mkdir()
    (repo / "vendor" / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    return repo
