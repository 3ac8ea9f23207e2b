"""The classic subgraphs, with the reviews subgraph's host refusing connections."""

from tests.scenarios.classic import classic_subgraphs

SUBGRAPHS = classic_subgraphs()

# The reviews subgraph's host refuses connections.
DOWN = {"reviews"}
