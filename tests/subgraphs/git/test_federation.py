"""The git subgraph is a Federation 2 subgraph: SDL, Session entity, GitHub keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse

from gateway.local import LocalSubgraph
from subgraphs.git.models import GitHubRepositoryRef
from subgraphs.git.remote_url import github_repository
from tests.subgraphs.git.conftest import git, run

ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
    ... on Session { id repository { path currentBranch } } } }"""


async def test_service_sdl_is_the_subgraph_sdl_with_a_federation_link(
    subgraph: LocalSubgraph,
) -> None:
    result = await run(subgraph, "{ _service { sdl } }")
    assert result.errors is None
    sdl = result.data["_service"]["sdl"]
    assert sdl == subgraph.sdl
    assert sdl.startswith(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@external", "@key", "@requires"])'
    )
    document = parse(sdl)
    names = {getattr(d, "name", None) and d.name.value for d in document.definitions}
    assert {"Query", "Subscription", "Repository", "Session"} <= names
    assert "_entities" not in sdl and "_service" not in sdl
    assert 'type Session @key(fields: "id")' in sdl
    assert "workingDirectory: String! @external" in sdl
    assert 'repository: Repository @requires(fields: "workingDirectory")' in sdl
    assert 'type GitHubRepository @key(fields: "owner name", resolvable: false)' in sdl


def test_subgraph_schema_declares_the_entity_union(subgraph: LocalSubgraph) -> None:
    union = subgraph.schema.get_type("_Entity")
    assert union is not None
    assert {t.name for t in union.types} == {"Session", "GitHubRepository"}
    # The SDL without its link is plain GraphQL once federation directives exist.
    build_schema(
        subgraph.sdl.split("\n", 1)[1]
        + "directive @key(fields: String!, resolvable: Boolean) repeatable on OBJECT\n"
        + "directive @external on FIELD_DEFINITION\n"
        + "directive @requires(fields: String!) on FIELD_DEFINITION\n"
    )


async def test_session_entity_resolves_the_repository_of_its_working_directory(
    subgraph: LocalSubgraph, repo: Path, root: Path
) -> None:
    (root / "plain").mkdir()
    result = await run(
        subgraph,
        ENTITIES,
        {
            "reps": [
                {"__typename": "Session", "id": "s1", "workingDirectory": str(repo)},
                {
                    "__typename": "Session",
                    "id": "s2",
                    "workingDirectory": str(root / "plain"),
                },
                {
                    "__typename": "Session",
                    "id": "s3",
                    "workingDirectory": str(root / "gone"),
                },
            ]
        },
    )
    assert result.errors is None
    assert result.data == {
        "_entities": [
            {"id": "s1", "repository": {"path": str(repo), "currentBranch": "main"}},
            {"id": "s2", "repository": None},
            {"id": "s3", "repository": None},
        ]
    }


async def test_session_outside_the_roots_gets_forbidden_path_at_its_index(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    result = await run(
        subgraph,
        ENTITIES,
        {
            "reps": [
                {"__typename": "Session", "id": "far", "workingDirectory": "/"},
                {"__typename": "Session", "id": "near", "workingDirectory": str(repo)},
            ]
        },
    )
    assert result.data["_entities"][0] == {"id": "far", "repository": None}
    assert result.data["_entities"][1]["repository"]["path"] == str(repo)
    assert len(result.errors) == 1
    assert result.errors[0].path == ["_entities", 0, "repository"]
    assert result.errors[0].extensions["code"] == "FORBIDDEN_PATH"


async def test_bad_representations_fail_only_their_own_index(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    result = await run(
        subgraph,
        ENTITIES,
        {
            "reps": [
                {"__typename": "Session", "id": "no-directory"},
                {"__typename": "GitHubRepository", "owner": "o", "name": "n"},
                {"__typename": "Session", "id": "ok", "workingDirectory": str(repo)},
            ]
        },
    )
    assert result.data["_entities"][:2] == [None, None]
    assert result.data["_entities"][2]["id"] == "ok"
    assert sorted(tuple(e.path) for e in result.errors) == [
        ("_entities", 0),
        ("_entities", 1),
    ]
    assert {e.extensions["code"] for e in result.errors} == {"BAD_USER_INPUT"}


async def test_github_field_gives_the_origin_key_only_on_github(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    query = '{ repository(path: "repo") { github { owner name } } }'
    assert (await run(subgraph, query)).data == {"repository": {"github": None}}
    git(repo, "remote", "add", "origin", "https://gitlab.com/octo/hello.git")
    assert (await run(subgraph, query)).data == {"repository": {"github": None}}
    git(repo, "remote", "set-url", "origin", "ssh://git@github.com/octo/hello.git")
    assert (await run(subgraph, query)).data == {
        "repository": {"github": {"owner": "octo", "name": "hello"}}
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/octo/hello.git", ("octo", "hello")),
        ("https://github.com/octo/hello", ("octo", "hello")),
        ("https://github.com/octo/hello/", ("octo", "hello")),
        ("https://token@github.com/octo/hello.git", ("octo", "hello")),
        ("http://www.github.com/octo/hello", ("octo", "hello")),
        ("git@github.com:octo/hello.git", ("octo", "hello")),
        ("git@github.com:octo/hello.js", ("octo", "hello.js")),
        ("ssh://git@github.com/octo/hello.git", ("octo", "hello")),
        ("ssh://git@github.com:22/octo/hello", ("octo", "hello")),
        ("git://github.com/octo/hello.git", ("octo", "hello")),
        ("https://gitlab.com/octo/hello.git", None),
        ("git@gitlab.com:octo/hello.git", None),
        ("https://github.com.evil.example/octo/hello", None),
        ("https://github.com/octo", None),
        ("https://github.com/octo/hello/tree/main", None),
        ("file:///srv/github.com/octo/hello", None),
        ("/srv/octo/hello.git", None),
        ("../hello", None),
    ],
)
def test_github_remote_urls_are_parsed(
    url: str, expected: tuple[str, str] | None
) -> None:
    want = None if expected is None else GitHubRepositoryRef(*expected)
    assert github_repository(url) == want
