"""The classic accounts / products / inventory / reviews subgraphs."""

from tests.scenarios.classic import classic_subgraphs

SUBGRAPHS = classic_subgraphs()
