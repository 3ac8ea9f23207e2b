"""supergraph.yaml to frozen dataclasses: the only place the gateway reads raw YAML.

``model`` holds the values, ``located`` the YAML reader that knows each value's
``file:line:column``, ``grammar`` the accepted forms (Cosmo, rover, ours).
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

__all__ = [
    "Config",
    "GatewayConfig",
    "HeaderRule",
    "IntrospectionConfig",
    "LimitsConfig",
    "SubgraphConfig",
    "SubscriptionConfig",
    "load_config",
]
