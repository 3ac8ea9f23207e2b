"""The hostile-repository lab and the git subgraph confined to its root."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.local import LocalSubgraph
from subgraphs.git import create_subgraph
from tests.security.hostile import Lab, make_lab


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return make_lab(tmp_path)


@pytest.fixture
def git_subgraph(lab: Lab) -> LocalSubgraph:
    return create_subgraph({"roots": [str(lab.root)]})


# ``gateway serve`` as the e2e tests start it.
from tests.e2e.conftest import start_gateway  # noqa: E402, F401
