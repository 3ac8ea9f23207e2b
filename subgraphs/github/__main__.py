"""python -m subgraphs.github --port 4003: the github subgraph as its own server."""

import sys

from gateway.local.standalone import main
from subgraphs.github import create_subgraph

sys.exit(main(create_subgraph, default_port=4003, prog="python -m subgraphs.github"))
