"""python -m subgraphs.claude --port 4001: the claude subgraph as its own server."""

import sys

from gateway.local.standalone import main
from subgraphs.claude import create_subgraph

sys.exit(main(create_subgraph, default_port=4001, prog="python -m subgraphs.claude"))
