"""Authorization: ``@authenticated`` and ``@requiresScopes`` enforced before fetching.

``AccessRules`` reads the directives from the subgraphs into one rule per field and
type of the supergraph; ``Authorizer`` removes what a request's token may not see
from its operation before planning, and reports each removed field as an
``UNAUTHORIZED_FIELD_OR_TYPE`` error at its path (answered ``null``).
"""

from __future__ import annotations

from gateway.authorization.filter import Authorizer, Restriction
from gateway.authorization.rules import AccessRules, Requirement

__all__ = ["AccessRules", "Authorizer", "Requirement", "Restriction"]
