"""What the federation and link specifications define: directive signatures, machinery names."""

from __future__ import annotations

from graphql import (
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    Node,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    UnionTypeDefinitionNode,
)
from graphql.language import (
    EnumTypeExtensionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeExtensionNode,
    ScalarTypeExtensionNode,
    UnionTypeExtensionNode,
)

__all__ = [
    "DEFINITION_OF_EXTENSION",
    "EXECUTABLE_LOCATIONS",
    "FEDERATION_DIRECTIVES",
    "FEDERATION_ROOT_FIELDS",
    "FEDERATION_SPEC",
    "FEDERATION_SUPPORT_TYPES",
    "FEDERATION_TYPES",
    "LINK_DIRECTIVE",
    "ROOT_OPERATIONS",
    "SPECIFIED_DIRECTIVES",
]


ROOT_OPERATIONS = {
    "query": "Query",
    "mutation": "Mutation",
    "subscription": "Subscription",
}

FEDERATION_SPEC = "https://specs.apollo.dev/federation/"

# Canonical federation directive definitions. ``{name}`` is the subgraph's local name
# for the directive, ``{fs}`` its local name for the FieldSet scalar.
# See https://specs.apollo.dev/federation/v2.9
_ALL_LOCATIONS = (
    "FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR"
    " | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
_AUTH_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
FEDERATION_DIRECTIVES: dict[str, str] = {
    "key": "(fields: {fs}!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE",
    "requires": "(fields: {fs}!) on FIELD_DEFINITION",
    "provides": "(fields: {fs}!) on FIELD_DEFINITION",
    "external": "(reason: String) on OBJECT | FIELD_DEFINITION",
    "extends": " on OBJECT | INTERFACE",
    "shareable": " repeatable on OBJECT | FIELD_DEFINITION",
    "override": "(from: String!, label: String) on FIELD_DEFINITION",
    "inaccessible": f" on {_ALL_LOCATIONS}",
    "tag": f"(name: String!) repeatable on {_ALL_LOCATIONS} | SCHEMA",
    "interfaceObject": " on OBJECT",
    "composeDirective": "(name: String!) repeatable on SCHEMA",
    "authenticated": f" on {_AUTH_LOCATIONS}",
    "requiresScopes": f"(scopes: [[federation__Scope!]!]!) on {_AUTH_LOCATIONS}",
    "policy": f"(policies: [[federation__Policy!]!]!) on {_AUTH_LOCATIONS}",
    "context": "(name: String!) repeatable on INTERFACE | OBJECT | UNION",
    "fromContext": "(field: federation__ContextFieldValue) on ARGUMENT_DEFINITION",
    "cost": "(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION"
    " | INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    "listSize": "(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!],"
    " requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
}
LINK_DIRECTIVE = (
    "directive @link(url: String!, as: String, import: [link__Import],"
    " for: link__Purpose) repeatable on SCHEMA"
)
# Scalars/enums the definitions above refer to, by name.
FEDERATION_SUPPORT_TYPES = {
    "federation__Scope": "scalar federation__Scope",
    "federation__Policy": "scalar federation__Policy",
    "federation__ContextFieldValue": "scalar federation__ContextFieldValue",
    "link__Import": "scalar link__Import",
    "link__Purpose": "enum link__Purpose { SECURITY EXECUTION }",
    "_Any": "scalar _Any",
    "_Service": "type _Service { sdl: String }",
}
FEDERATION_ROOT_FIELDS = frozenset({"_service", "_entities"})
FEDERATION_TYPES = frozenset({"_Any", "_Entity", "_Service"})
SPECIFIED_DIRECTIVES = frozenset({"skip", "include", "deprecated", "specifiedBy"})
EXECUTABLE_LOCATIONS = frozenset(
    {
        "QUERY",
        "MUTATION",
        "SUBSCRIPTION",
        "FIELD",
        "FRAGMENT_DEFINITION",
        "FRAGMENT_SPREAD",
        "INLINE_FRAGMENT",
        "VARIABLE_DEFINITION",
    }
)

DEFINITION_OF_EXTENSION: dict[type[Node], type[Node]] = {
    ObjectTypeExtensionNode: ObjectTypeDefinitionNode,
    InterfaceTypeExtensionNode: InterfaceTypeDefinitionNode,
    UnionTypeExtensionNode: UnionTypeDefinitionNode,
    EnumTypeExtensionNode: EnumTypeDefinitionNode,
    InputObjectTypeExtensionNode: InputObjectTypeDefinitionNode,
    ScalarTypeExtensionNode: ScalarTypeDefinitionNode,
}
