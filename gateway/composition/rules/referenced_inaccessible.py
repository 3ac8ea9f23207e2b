"""REFERENCED_INACCESSIBLE: an accessible element never refers to an ``@inaccessible``
type."""

from __future__ import annotations

from gateway.composition.context import CompositionContext
from gateway.composition.syntax import named_type_node

__all__ = ["referenced_inaccessible"]


def referenced_inaccessible(context: CompositionContext) -> None:
    merged = context.merged
    issues = context.issues
    hidden = {name for name, t in merged.items() if t.inaccessible}
    if not hidden:
        return
    for merged_type in merged.values():
        if merged_type.inaccessible:
            continue
        for merged_field in merged_type.fields.values():
            if merged_field.inaccessible or merged_field.type is None:
                continue
            references = [named_type_node(merged_field.type).name.value]
            references += [
                named_type_node(a.type).name.value for a in merged_field.arguments
            ]
            for reference in references:
                if reference in hidden:
                    issues.error(
                        "REFERENCED_INACCESSIBLE",
                        f"{merged_type.name}.{merged_field.name} refers to "
                        f"@inaccessible type {reference} but is not @inaccessible",
                        *merged_type.subgraph_names,
                    )
        for input_field in merged_type.input_fields:
            reference = named_type_node(input_field.type).name.value
            if reference in hidden:
                issues.error(
                    "REFERENCED_INACCESSIBLE",
                    f"{merged_type.name}.{input_field.name.value} refers to "
                    f"@inaccessible type {reference} but is not @inaccessible",
                    *merged_type.subgraph_names,
                )
