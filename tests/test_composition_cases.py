"""Composition cases as folders, and the reference check against The Guild's composer.

Every folder under tests/composition/ is a case (see tests/composition/README.md):
``supergraph.yaml`` lists its subgraphs, and either ``client.graphql`` holds the
client schema it must compose to (printed, types and fields sorted) or
``errors.json`` the errors it must be refused with.

The reference check composes every case here and every scenario under
tests/scenarios/ with the npm package ``@theguild/federation-composition`` (pinned
in tests/node/package.json; installed by ./scripts/test) and requires our
composition to agree on success or failure and, when both succeed, on the printed
sorted client schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import lexicographic_sort_schema, print_schema

from gateway.composition import compose
from gateway.config import load_config
from gateway.errors import CompositionError

TESTS = Path(__file__).parent
CASES_DIR = TESTS / "composition"
SCENARIOS_DIR = TESTS / "scenarios"
NODE_DIR = TESTS / "node"

CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "supergraph.yaml").is_file())
REFERENCE_CASES = CASES + sorted(
    p for p in SCENARIOS_DIR.iterdir() if (p / "supergraph.yaml").is_file()
)


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
