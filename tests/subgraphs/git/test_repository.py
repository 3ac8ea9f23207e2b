"""The git subgraph reads real repositories: branches, commits, status, diff, files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from gateway.local import LocalSubgraph
from tests.subgraphs.git.conftest import commit_file, git, run


async def test_repository_reports_branch_head_branches_and_remotes(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:octo/hello.git")
    git(repo, "remote", "add", "mirror", "https://example.com/x.git")
    result = await run(
        subgraph,
        """query($path: String) { repository(path: $path) {
            path currentBranch
            head { hash shortHash subject message parents date
                   author { name email date } committer { name email } }
            branches { name current commit upstream }
            remotes { name url }
        } }""",
        {"path": "repo"},
    )
    assert result.errors is None
    data = result.data["repository"]
    head = git(repo, "rev-parse", "HEAD").strip()
    parent = git(repo, "rev-parse", "HEAD~1").strip()
    assert data["path"] == str(repo)
    assert data["currentBranch"] == "main"
    assert data["head"]["hash"] == head
    assert data["head"]["shortHash"] == head[:7]
    assert data["head"]["subject"] == "third commit"
    assert data["head"]["parents"] == [parent]
    assert data["head"]["author"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "date": data["head"]["date"],
    }
    assert data["head"]["committer"]["name"] == "Charles Babbage"
    assert sorted(data["branches"], key=lambda b: b["name"]) == [
        {"name": "feature", "current": False, "commit": parent, "upstream": None},
        {"name": "main", "current": True, "commit": head, "upstream": None},
    ]
    assert data["remotes"] == [
        {"name": "origin", "url": "git@github.com:octo/hello.git"},
        {"name": "mirror", "url": "https://example.com/x.git"},
    ]


async def test_log_pages_through_history_with_cursors(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    query = """query($after: String) { repository(path: "repo") {
        log(first: 2, after: $after) { hash subject message cursor } } }"""
    first = await run(subgraph, query)
    assert first.errors is None
    page = first.data["repository"]["log"]
    assert [c["subject"] for c in page] == ["third commit", "add app"]
    second = await run(subgraph, query, {"after": page[-1]["cursor"]})
    assert second.errors is None
    rest = second.data["repository"]["log"]
    assert [c["subject"] for c in rest] == ["first commit"]
    assert rest[0]["message"] == "first commit\n\nwith a body"
    third = await run(subgraph, query, {"after": rest[-1]["cursor"]})
    assert third.data["repository"]["log"] == []


async def test_log_rejects_bad_cursor_and_page_size(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    result = await run(
        subgraph, '{ repository(path: "repo") { log(after: "nonsense") { hash } } }'
    )
    assert result.errors[0].extensions["code"] == "BAD_USER_INPUT"
    result = await run(
        subgraph, '{ repository(path: "repo") { log(first: 1000) { hash } } }'
    )
    assert result.errors[0].extensions["code"] == "BAD_USER_INPUT"


async def test_status_separates_staged_unstaged_and_untracked_files(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    (repo / "README.md").write_text("changed\n")  # unstaged modification
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "new.txt")  # staged addition
    git(repo, "mv", "src/app.py", "src/main.py")  # staged rename
    (repo / "notes" / "deep").mkdir(parents=True)
    (repo / "notes" / "deep" / "todo.md").write_text("x\n")  # untracked
    (repo / "new.txt").write_text("new and edited\n")  # staged and unstaged
    result = await run(
        subgraph,
        """{ repository(path: "repo") { status {
            branch head clean truncated
            staged { path originalPath kind code }
            unstaged { path kind code }
            untracked { path kind }
            conflicted { path }
        } } }""",
    )
    assert result.errors is None
    status = result.data["repository"]["status"]
    assert status["branch"] == "main"
    assert status["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert status["clean"] is False
    assert status["truncated"] is False
    assert sorted(status["staged"], key=lambda c: c["path"]) == [
        {"path": "new.txt", "originalPath": None, "kind": "ADDED", "code": "AM"},
        {
            "path": "src/main.py",
            "originalPath": "src/app.py",
            "kind": "RENAMED",
            "code": "R.",
        },
    ]
    assert sorted(status["unstaged"], key=lambda c: c["path"]) == [
        {"path": "README.md", "kind": "MODIFIED", "code": ".M"},
        {"path": "new.txt", "kind": "MODIFIED", "code": "AM"},
    ]
    assert status["untracked"] == [{"path": "notes/deep/todo.md", "kind": "UNTRACKED"}]
    assert status["conflicted"] == []


async def test_status_lists_conflicted_files_after_a_failed_merge(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    git(repo, "checkout", "-q", "feature")
    commit_file(repo, "README.md", "from feature\n", "feature edit")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "feature", check=False)  # conflicts on README.md
    result = await run(
        subgraph,
        """{ repository(path: "repo") { status { clean
            conflicted { path kind code } staged { path } } } }""",
    )
    assert result.errors is None
    status = result.data["repository"]["status"]
    assert status["conflicted"] == [
        {"path": "README.md", "kind": "CONFLICTED", "code": "UU"}
    ]
    assert status["clean"] is False


async def test_clean_tree_reports_clean_status(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    result = await run(subgraph, '{ repository(path: "repo") { status { clean } } }')
    assert result.data == {"repository": {"status": {"clean": True}}}


async def test_diff_shows_unstaged_or_staged_changes_and_counts_lines(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    (repo / "README.md").write_text("hello\nthere\nworld\n")
    (repo / "src" / "app.py").write_text("print('b')\n")
    git(repo, "add", "src/app.py")
    query = """query($staged: Boolean, $path: String) { repository(path: "repo") {
        diff(staged: $staged, path: $path) {
            patch truncated files { path additions deletions } } } }"""
    unstaged = await run(subgraph, query, {"staged": False})
    assert unstaged.errors is None
    diff = unstaged.data["repository"]["diff"]
    assert "+there" in diff["patch"]
    assert "print('b')" not in diff["patch"]
    assert diff["files"] == [{"path": "README.md", "additions": 1, "deletions": 0}]
    assert diff["truncated"] is False
    staged = await run(subgraph, query, {"staged": True})
    files = staged.data["repository"]["diff"]["files"]
    assert files == [{"path": "src/app.py", "additions": 1, "deletions": 1}]
    one_path = await run(subgraph, query, {"staged": False, "path": "src"})
    assert one_path.data["repository"]["diff"]["files"] == []


async def test_file_reads_a_revision_or_the_working_tree(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    (repo / "README.md").write_text("uncommitted\n")
    query = """query($path: String!, $rev: String) { repository(path: "repo") {
        file(path: $path, rev: $rev) { path rev size binary text truncated } } }"""
    at_head = await run(subgraph, query, {"path": "README.md", "rev": "HEAD"})
    assert at_head.errors is None
    file = at_head.data["repository"]["file"]
    assert file["text"] == "hello\nworld\n"
    assert file["rev"] == git(repo, "rev-parse", "HEAD").strip()
    assert file["size"] == len("hello\nworld\n")
    earlier = await run(subgraph, query, {"path": "README.md", "rev": "HEAD~2"})
    assert earlier.data["repository"]["file"]["text"] == "hello\n"
    worktree = await run(subgraph, query, {"path": "./README.md"})
    assert worktree.data["repository"]["file"] == {
        "path": "README.md",
        "rev": None,
        "size": len("uncommitted\n"),
        "binary": False,
        "text": "uncommitted\n",
        "truncated": False,
    }


async def test_file_that_does_not_exist_is_null_and_unknown_revision_is_bad_input(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    query = """query($path: String!, $rev: String) { repository(path: "repo") {
        file(path: $path, rev: $rev) { text } } }"""
    missing = await run(subgraph, query, {"path": "nope.txt", "rev": "HEAD"})
    assert missing.errors is None
    assert missing.data["repository"]["file"] is None
    missing_here = await run(subgraph, query, {"path": "nope.txt"})
    assert missing_here.data["repository"]["file"] is None
    for rev in ("no-such-branch", "--output=/tmp/x"):
        bad = await run(subgraph, query, {"path": "README.md", "rev": rev})
        assert bad.errors[0].extensions["code"] == "BAD_USER_INPUT"
        assert bad.errors[0].path == ["repository", "file"]


async def test_binary_file_has_no_text(subgraph: LocalSubgraph, repo: Path) -> None:
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    result = await run(
        subgraph,
        '{ repository(path: "repo") { file(path: "blob.bin") { binary text size } } }',
    )
    assert result.data["repository"]["file"] == {
        "binary": True,
        "text": None,
        "size": 9,
    }


async def test_empty_repository_has_no_head_and_an_empty_log(
    subgraph: LocalSubgraph, make_repo: Callable[[str], Path]
) -> None:
    make_repo("empty")
    result = await run(
        subgraph,
        """{ repository(path: "empty") { currentBranch head { hash } log { hash }
            status { head branch clean } branches { name } } }""",
    )
    assert result.errors is None
    assert result.data["repository"] == {
        "currentBranch": "main",
        "head": None,
        "log": [],
        "status": {"head": None, "branch": "main", "clean": True},
        "branches": [],
    }


async def test_detached_head_has_no_current_branch(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    result = await run(
        subgraph, '{ repository(path: "repo") { currentBranch status { branch } } }'
    )
    assert result.errors is None
    assert result.data["repository"] == {
        "currentBranch": None,
        "status": {"branch": None},
    }


async def test_subdirectory_path_opens_its_repository(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    result = await run(subgraph, '{ repository(path: "repo/src") { path } }')
    assert result.data == {"repository": {"path": str(repo)}}


async def test_default_path_is_the_first_root(root: Path) -> None:
    from subgraphs.git import create_subgraph

    git(root, "init", "-q", "-b", "trunk")
    local = create_subgraph({"roots": [str(root)]})
    result = await run(local, "{ repository { path currentBranch } }")
    assert result.data == {"repository": {"path": str(root), "currentBranch": "trunk"}}


async def test_status_and_branches_report_the_upstream_and_ahead_behind(
    subgraph: LocalSubgraph, repo: Path, root: Path
) -> None:
    git(root, "clone", "-q", str(repo), "clone")
    clone = root / "clone"
    commit_file(clone, "local.txt", "x\n", "local work")
    git(repo, "commit", "-q", "--allow-empty", "-m", "upstream work")
    git(clone, "fetch", "-q", "origin")
    result = await run(
        subgraph,
        """{ repository(path: "clone") {
            status { branch upstream ahead behind }
            branches { name upstream current } } }""",
    )
    assert result.errors is None
    assert result.data["repository"] == {
        "status": {
            "branch": "main",
            "upstream": "origin/main",
            "ahead": 1,
            "behind": 1,
        },
        "branches": [{"name": "main", "upstream": "origin/main", "current": True}],
    }


async def test_conflict_codes_follow_the_index_stages(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "left")
    commit_file(repo, "both.txt", "left\n", "left adds")
    git(repo, "rm", "-q", "src/app.py")
    git(repo, "commit", "-q", "-m", "left deletes app")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "both.txt", "main\n", "main adds")
    commit_file(repo, "src/app.py", "print('main')\n", "main edits app")
    git(repo, "merge", "left", check=False)
    result = await run(
        subgraph,
        '{ repository(path: "repo") { status { conflicted { path code kind } } } }',
    )
    assert result.errors is None
    assert result.data["repository"]["status"]["conflicted"] == [
        {"path": "both.txt", "code": "AA", "kind": "CONFLICTED"},
        {"path": "src/app.py", "code": "UD", "kind": "CONFLICTED"},
    ]
    porcelain = git(repo, "status", "--porcelain=v2")
    assert "u AA" in porcelain and "u UD" in porcelain


async def test_staged_diff_before_the_first_commit_shows_every_staged_file(
    subgraph: LocalSubgraph, make_repo: Callable[[str], Path]
) -> None:
    repo = make_repo("fresh")
    (repo / "new.txt").write_text("one\ntwo\n")
    git(repo, "add", "new.txt")
    objects_before = sorted(p.name for p in (repo / ".git" / "objects").iterdir())
    result = await run(
        subgraph,
        """{ repository(path: "fresh") { diff(staged: true) {
            patch files { path additions deletions } } } }""",
    )
    assert result.errors is None
    diff = result.data["repository"]["diff"]
    assert diff["files"] == [{"path": "new.txt", "additions": 2, "deletions": 0}]
    assert "+one\n+two\n" in diff["patch"]
    # Reading wrote nothing (no empty tree object) to the repository.
    assert sorted(p.name for p in (repo / ".git" / "objects").iterdir()) == (
        objects_before
    )


async def test_reads_never_rewrite_the_index(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    index = repo / ".git" / "index"
    before = index.read_bytes()
    readme = repo / "README.md"
    stat = readme.stat()
    os.utime(readme, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    result = await run(
        subgraph,
        '{ repository(path: "repo") { status { clean } diff { patch } } }',
    )
    assert result.data == {
        "repository": {"status": {"clean": True}, "diff": {"patch": ""}}
    }
    assert index.read_bytes() == before
    assert not (repo / ".git" / "index.lock").exists()
