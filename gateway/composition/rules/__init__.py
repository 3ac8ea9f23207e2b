"""The Federation 2 composition rules, one a module, each named after its error code.

Like graphql-core's ``validation/rules``: every rule reads the same
``CompositionContext`` and reports what it finds; ``validate`` runs them all, so one
composition reports every problem at once. Satisfiability runs last, and only when
every other rule passed (it walks a graph the other rules vouch for).

See https://www.apollographql.com/docs/graphos/reference/federation/errors
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.composition.context import CompositionContext
from gateway.composition.rules.argument_default_mismatch import (
    argument_default_mismatch,
)
from gateway.composition.rules.argument_type_mismatch import argument_type_mismatch
from gateway.composition.rules.empty_merged_input_type import empty_merged_input_type
from gateway.composition.rules.external_missing_on_base import external_missing_on_base
from gateway.composition.rules.field_type_mismatch import field_type_mismatch
from gateway.composition.rules.from_subgraph_does_not_exist import (
    from_subgraph_does_not_exist,
)
from gateway.composition.rules.input_field_default_mismatch import (
    input_field_default_mismatch,
)
from gateway.composition.rules.invalid_field_sharing import invalid_field_sharing
from gateway.composition.rules.key_invalid_fields import key_invalid_fields
from gateway.composition.rules.no_queries import no_queries
from gateway.composition.rules.override_from_self_error import (
    override_from_self_error,
)
from gateway.composition.rules.override_label_ignored import override_label_ignored
from gateway.composition.rules.provides_invalid_fields import provides_invalid_fields
from gateway.composition.rules.referenced_inaccessible import referenced_inaccessible
from gateway.composition.rules.required_argument_missing_in_some_subgraph import (
    required_argument_missing_in_some_subgraph,
)
from gateway.composition.rules.required_input_field_missing_in_some_subgraph import (
    required_input_field_missing_in_some_subgraph,
)
from gateway.composition.rules.requires_fields_missing_external import (
    requires_fields_missing_external,
)
from gateway.composition.rules.requires_invalid_fields import requires_invalid_fields
from gateway.composition.rules.satisfiability_error import satisfiability_error
from gateway.composition.rules.type_kind_mismatch import type_kind_mismatch

__all__ = ["RULES", "Rule", "validate"]

Rule = Callable[[CompositionContext], None]

RULES: tuple[Rule, ...] = (
    type_kind_mismatch,
    field_type_mismatch,
    argument_type_mismatch,
    argument_default_mismatch,
    required_argument_missing_in_some_subgraph,
    input_field_default_mismatch,
    required_input_field_missing_in_some_subgraph,
    empty_merged_input_type,
    override_from_self_error,
    from_subgraph_does_not_exist,
    override_label_ignored,
    key_invalid_fields,
    requires_invalid_fields,
    requires_fields_missing_external,
    provides_invalid_fields,
    external_missing_on_base,
    invalid_field_sharing,
    referenced_inaccessible,
    no_queries,
)


def validate(context: CompositionContext) -> None:
    """Run every rule; satisfiability only when the others found nothing."""
    for rule in RULES:
        rule(context)
    if not context.issues.errors:
        satisfiability_error(context)
