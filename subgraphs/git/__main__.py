"""python -m subgraphs.git --port 4002: the git subgraph as its own server."""

import sys

from gateway.local.standalone import main
from subgraphs.git import create_subgraph

sys.exit(main(create_subgraph, default_port=4002, prog="python -m subgraphs.git"))
