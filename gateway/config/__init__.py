"""supergraph.yaml to frozen dataclasses: the only place the gateway reads raw YAML.

``model`` holds the values, ``located`` the YAML reader that knows each value's
``file:line:column``, ``grammar`` the accepted forms (Cosmo, rover, ours),
``supergraph_file`` the subgraphs of an Apollo supergraph SDL.
"""

from __future__ import annotations

from gateway.config.grammar import load_config
from gateway.config.model import (
    Config,
    GatewayConfig,
    HeaderRule,
    IntrospectionConfig,
    LimitsConfig,
    SubgraphConfig,
    SubscriptionConfig,
)
from gateway.config.supergraph_file import load_supergraph_config

__all__ = [
    "Config",
    "GatewayConfig",
    "HeaderRule",
    "IntrospectionConfig",
    "LimitsConfig",
    "SubgraphConfig",
    "SubscriptionConfig",
    "load_config",
    "load_supergraph_config",
]
