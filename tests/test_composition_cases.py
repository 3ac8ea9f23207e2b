"""Composition cases as folders, and the reference check against The Guild's composer.

Every folder under tests/composition/ is a case (see tests/composition/README.md):
``supergraph.yaml`` lists its subgraphs, and either ``client.graphql`` holds the
client schema it must compose to (printed, types and fields sorted) or
``errors.json`` the errors it must be refused with.

The reference check composes every case here and every scenario under
tests/scenarios/ with the npm package ``@theguild/federation-composition`` (pinned
in tests/node/package.json; installed by ./scripts/test) and requires our
composition to agree on success or failure and, when both succeed, on the printed
sorted client schema. The supergraph SDL it writes is then read back
(``load_supergraph``): it must give the same client schema and the same ownership
model as composing the subgraphs' own SDL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import lexicographic_sort_schema, print_ast, print_schema

from gateway.composition import compose
from gateway.composition.supergraph_sdl import load_supergraph
from gateway.config import load_config
from gateway.errors import CompositionError
from gateway.supergraph import Supergraph

TESTS = Path(__file__).parent
CASES_DIR = TESTS / "composition"
SCENARIOS_DIR = TESTS / "scenarios"
NODE_DIR = TESTS / "node"

CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "supergraph.yaml").is_file())
REFERENCE_CASES = CASES + sorted(
    p for p in SCENARIOS_DIR.iterdir() if (p / "supergraph.yaml").is_file()
)
COMPOSING_CASES = [f for f in REFERENCE_CASES if not (f / "errors.json").is_file()]


def subgraphs_of(folder: Path) -> list[tuple[str, str]]:
    config = load_config(folder / "supergraph.yaml")
    pairs: list[tuple[str, str]] = []
    for subgraph in config.subgraphs:
        assert subgraph.schema_file is not None, f"{folder}: {subgraph.name} file"
        pairs.append((subgraph.name, subgraph.schema_file.read_text()))
    return pairs


def case_id(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"


def sorted_client_schema(subgraphs: list[tuple[str, str]]) -> str:
    supergraph = compose(subgraphs)
    return print_schema(lexicographic_sort_schema(supergraph.schema))


@pytest.mark.parametrize("folder", CASES, ids=case_id)
def test_composition_case_gives_its_client_schema_or_its_errors(folder: Path) -> None:
    subgraphs = subgraphs_of(folder)
    errors_file = folder / "errors.json"
    if not errors_file.is_file():
        expected = (folder / "client.graphql").read_text().strip()
        assert sorted_client_schema(subgraphs) == expected
        return
    expected_errors = json.loads(errors_file.read_text())
    with pytest.raises(CompositionError) as caught:
        compose(subgraphs)
    issues = caught.value.issues
    assert sorted({i.code for i in issues}) == sorted(
        {e["code"] for e in expected_errors}
    )
    for expected in expected_errors:
        messages = [i.message for i in issues if i.code == expected["code"]]
        for fragment in expected.get("contains", ()):
            assert any(fragment in m for m in messages), (fragment, messages)


@cache
def reference_results() -> dict[str, Any]:
    """Every case composed by @theguild/federation-composition, in one node run."""
    node = shutil.which("node")
    if (
        node is None
        or not (
            NODE_DIR / "node_modules" / "@theguild" / "federation-composition"
        ).is_dir()
    ):
        pytest.fail(
            "Node.js and tests/node/node_modules are needed for the reference "
            "check: run ./scripts/test"
        )
    cases = {
        case_id(folder): [
            {"name": name, "sdl": sdl} for name, sdl in subgraphs_of(folder)
        ]
        for folder in REFERENCE_CASES
    }
    completed = subprocess.run(
        [node, str(NODE_DIR / "compose.mjs")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results: dict[str, Any] = json.loads(completed.stdout)
    return results


@pytest.mark.parametrize("folder", REFERENCE_CASES, ids=case_id)
def test_composition_agrees_with_the_reference_composer(folder: Path) -> None:
    reference = reference_results()[case_id(folder)]
    subgraphs = subgraphs_of(folder)
    try:
        ours: str | None = sorted_client_schema(subgraphs)
    except CompositionError as error:
        ours = None
        assert not reference["ok"], f"we refuse what the reference composes: {error}"
    else:
        reference_codes = [e["code"] for e in reference["errors"]]
        assert reference["ok"], (
            f"we compose what the reference refuses: {reference_codes}"
        )
    if ours is not None:
        assert ours == reference["clientSchema"]


def ownership(supergraph: Supergraph) -> dict[str, Any]:
    """What the planner reads, in a comparable form: kinds, keys, possible types,
    and per field its type and every source with its own type, requires and
    provides. (``external_in`` is left out: an ``@external`` field that no directive
    uses is dropped from a supergraph SDL, and carries no information.)"""

    def selection(node: Any) -> str | None:
        return None if node is None else " ".join(print_ast(node).split())

    return {
        name: (
            typedef.kind,
            sorted(typedef.subgraphs),
            sorted(
                (k.subgraph, " ".join(print_ast(k.selection).split()), k.resolvable)
                for k in typedef.keys
            ),
            sorted(typedef.interface_object_in),
            sorted(typedef.possible_types),
            typedef.inaccessible,
            {
                f.name: (
                    f.type,
                    f.inaccessible,
                    sorted(
                        (
                            s.subgraph,
                            s.type,
                            selection(s.requires) or "",
                            selection(s.provides) or "",
                        )
                        for s in f.sources
                    ),
                )
                for f in typedef.fields.values()
            },
        )
        for name, typedef in supergraph.types.items()
    }


@pytest.mark.parametrize("folder", COMPOSING_CASES, ids=case_id)
def test_a_supergraph_sdl_reads_back_into_the_same_supergraph(folder: Path) -> None:
    reference = reference_results()[case_id(folder)]
    assert reference["ok"], reference["errors"]
    from_supergraph = load_supergraph(reference["supergraphSdl"])
    from_subgraphs = compose(subgraphs_of(folder))
    assert print_schema(lexicographic_sort_schema(from_supergraph.schema)) == (
        print_schema(lexicographic_sort_schema(from_subgraphs.schema))
    )
    assert ownership(from_supergraph) == ownership(from_subgraphs)
    assert set(from_supergraph.subgraphs) == set(from_subgraphs.subgraphs)


def test_compose_refuses_an_unsatisfiable_graph_naming_the_query_that_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gateway.cli import main

    folder = CASES_DIR / "unsatisfiable_key_needs_entered_subgraph"
    assert main(["compose", "--config", str(folder / "supergraph.yaml")]) == 1
    err = capsys.readouterr().err
    assert "SATISFIABILITY_ERROR" in err
    assert "{\n  start {\n    destination\n  }\n}" in err
