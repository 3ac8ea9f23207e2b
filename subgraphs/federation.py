"""The one federation helper of the bundled subgraphs (claude, git, github).

ariadne-graphql-modules 0.8, the project's schema-definition library, has no
federation support, and ``ariadne.contrib.federation`` works from SDL strings and
bindables rather than module types; so this module does, on the module types, the
part the Apollo subgraph specification asks of a subgraph: it prints their SDL under
a Federation 2 ``@link`` (importing the directives the SDL uses), adds
``_service { sdl }`` and, when there are entities (``@key`` types), the ``_Entity``
union and ``_entities(representations:)``.

See https://www.apollographql.com/docs/graphos/reference/federation/subgraph-spec

The whole API::

    from subgraphs.federation import Entity, federation_directives, make_federated_schema

    class SessionType(ObjectType):
        __schema__ = 'type Session @key(fields: "id") { id: ID! }'
        __requires__ = [*federation_directives("key")]  # each directive it uses

    federated = make_federated_schema(
        QueryType, MutationType, SubscriptionType,      # root types; the rest follow
        entities=[
            # one representation at a time (sync or async) ...
            Entity("Session", SessionRecord, resolve_reference=load_one),
            # ... or all representations of the type in one call, in order
            Entity("Session", SessionRecord, resolve_references=load_many),
        ],
    )
    federated.schema  # the executable GraphQLSchema (with _service, _entities)
    federated.sdl     # what _service { sdl } answers (without them)

A representation that cannot be resolved is an error at its own index of
``_entities``; the other representations still resolve. ``resolve_reference`` may
return ``None`` (no such entity); ``resolve_references`` returns one value (or
``None``, or an exception) per representation it was given. Errors are GraphQL
errors with an ``extensions.code``, as every subgraph's ``errors.py`` defines them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ariadne import validate_schema_default_enum_values
from ariadne_graphql_modules import BaseType, BindableType, DeferredType, DefinitionType
from ariadne_graphql_modules.executable_schema import (
    ROOT_TYPES,
    build_root_schema,
    get_all_types,
)
from graphql import (
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    Visitor,
    assert_valid_schema,
    build_ast_schema,
    concat_ast,
    parse,
    print_ast,
    visit,
)

__all__ = [
    "FEDERATION_VERSION_URL",
    "BatchReferenceResolver",
    "Entity",
    "FederatedSchema",
    "ReferenceResolver",
    "federation_directives",
    "make_federated_schema",
]

FEDERATION_VERSION_URL = "https://specs.apollo.dev/federation/v2.3"

# Directive definitions of Federation 2.3 (the facts of the spec, written here so
# the executable schema accepts the subgraph SDL). They are not part of the SDL that
# ``_service`` returns: the ``@link`` declares them.
_FEDERATION_DEFINITIONS = """
scalar FieldSet
scalar link__Import
scalar _Any
type _Service { sdl: String }
directive @link(url: String!, as: String, import: [link__Import]) repeatable on SCHEMA
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @extends on OBJECT | INTERFACE
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @override(from: String!) on FIELD_DEFINITION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @composeDirective(name: String!) repeatable on SCHEMA
directive @interfaceObject on OBJECT
"""

_FEDERATION_DIRECTIVES = frozenset(
    {
        "key",
        "requires",
        "provides",
        "external",
        "extends",
        "shareable",
        "override",
        "inaccessible",
        "tag",
        "composeDirective",
        "interfaceObject",
    }
)

ReferenceResolver = Callable[[dict[str, Any], GraphQLResolveInfo], Any]
"""``(representation, info) -> entity | None`` (or an awaitable of it)."""

BatchReferenceResolver = Callable[
    [list[dict[str, Any]], GraphQLResolveInfo], Awaitable[Sequence[Any]]
]
"""``(representations, info) -> [entity | None | Exception, ...]``, one per
representation, in order."""


@dataclass(frozen=True, slots=True)
class Entity:
    """An entity this subgraph can resolve from a representation.

    ``model`` is the Python class of the values the resolver returns, so
    ``_Entity`` can tell which GraphQL type a value is (a ``Mapping`` value may
    instead carry ``__typename``). Give exactly one of ``resolve_reference`` and
    ``resolve_references``.
    """

    name: str
    model: type
    resolve_reference: ReferenceResolver | None = None
    resolve_references: BatchReferenceResolver | None = None

    def __post_init__(self) -> None:
        if (self.resolve_reference is None) == (self.resolve_references is None):
            raise ValueError(
                f"entity {self.name}: give one of resolve_reference and "
                "resolve_references"
            )


@dataclass(frozen=True, slots=True)
class FederatedSchema:
    """An executable subgraph schema and the SDL its ``_service { sdl }`` returns."""

    schema: GraphQLSchema
    sdl: str


def federation_directives(*names: str) -> list[DeferredType]:
    """``__requires__`` entries for federation directives used in a ``__schema__``."""
    unknown = [name for name in names if name not in _FEDERATION_DIRECTIVES]
    if unknown:
        raise ValueError(f"not federation directives: {', '.join(unknown)}")
    return [DeferredType(name) for name in names]


class _DirectiveNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        self.names.add(node.name.value)


def _subgraph_document(type_defs: Sequence[type[DefinitionType]]) -> DocumentNode:
    documents = [build_root_schema(list(type_defs), [])]
    documents.extend(
        parse(type_def.__schema__)
        for type_def in type_defs
        if type_def.graphql_name not in ROOT_TYPES
    )
    return concat_ast(documents)


def _entity_names(document: DocumentNode) -> list[str]:
    names: list[str] = []
    for definition in document.definitions:
        if not isinstance(
            definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode
        ):
            continue
        if any(d.name.value == "key" for d in definition.directives or ()):
            if definition.name.value not in names:
                names.append(definition.name.value)
    return names


def _has_query(document: DocumentNode) -> bool:
    return any(
        isinstance(definition, ObjectTypeDefinitionNode)
        and definition.name.value == "Query"
        for definition in document.definitions
    )


def make_federated_schema(
    *types: type[BaseType], entities: Iterable[Entity] = ()
) -> FederatedSchema:
    """Build a Federation 2 subgraph schema from ariadne-graphql-modules types.

    ``entities`` resolve ``_entities`` representations by ``__typename``; an
    ``@key`` type without one (``resolvable: false``) answers a representation with
    an error at its index.
    """
    all_types = get_all_types(types)
    type_defs = [t for t in all_types if issubclass(t, DefinitionType)]
    document = _subgraph_document(type_defs)

    collector = _DirectiveNames()
    visit(document, collector)
    imports = sorted(f'"@{n}"' for n in collector.names if n in _FEDERATION_DIRECTIVES)
    link = (
        f'extend schema @link(url: "{FEDERATION_VERSION_URL}", '
        f"import: [{', '.join(imports)}])"
    )
    sdl = f"{link}\n\n{print_ast(document)}\n"

    entity_names = _entity_names(document)
    service_fields = ["_service: _Service!"]
    extra = [_FEDERATION_DEFINITIONS]
    if entity_names:
        extra.append(f"union _Entity = {' | '.join(entity_names)}")
        service_fields.append("_entities(representations: [_Any!]!): [_Entity]!")
    query_token = "extend type" if _has_query(document) else "type"
    extra.append(f"{query_token} Query {{ {' '.join(service_fields)} }}")

    schema = build_ast_schema(parse(sdl + "\n".join(extra)))
    for type_def in type_defs:
        if issubclass(type_def, BindableType):
            type_def.__bind_to_schema__(schema)
    assert_valid_schema(schema)
    validate_schema_default_enum_values(schema)
    # Not ariadne's repair_schema_default_enum_values: it replaces each enum's
    # parse_value with a one-argument function, while graphql-core 3.2.14 calls
    # parse_value(value, hide_suggestions), so every enum-typed variable would
    # fail. Enum values here are their names, so there is nothing to repair.

    query = schema.query_type
    assert query is not None
    service = {"sdl": sdl}
    query.fields["_service"].resolve = lambda _root, _info: service
    if entity_names:
        _bind_entities(schema, query, list(entities))
    return FederatedSchema(schema=schema, sdl=sdl)


async def _store(results: list[Any], index: int, value: Awaitable[Any]) -> None:
    results[index] = await value


def _bind_entities(
    schema: GraphQLSchema, query: GraphQLObjectType, entities: Sequence[Entity]
) -> None:
    by_name = {entity.name: entity for entity in entities}
    by_model = [(entity.model, entity.name) for entity in entities]

    def resolve_type(value: Any, _info: GraphQLResolveInfo, _type: Any) -> str | None:
        if isinstance(value, Mapping):
            typename = value.get("__typename")
            return typename if isinstance(typename, str) else None
        for model, name in by_model:
            if isinstance(value, model):
                return name
        return None

    def check(representation: Any) -> Entity | GraphQLError:
        if not isinstance(representation, dict) or not isinstance(
            representation.get("__typename"), str
        ):
            return GraphQLError(
                "an entity representation must be an object with __typename",
                extensions={"code": "BAD_USER_INPUT"},
            )
        typename = representation["__typename"]
        entity = by_name.get(typename)
        if entity is None:
            return GraphQLError(
                f"this subgraph cannot resolve entities of type {typename!r}",
                extensions={"code": "BAD_USER_INPUT"},
            )
        return entity

    async def resolve_one(
        entity: Entity, representation: dict[str, Any], info: GraphQLResolveInfo
    ) -> Any:
        assert entity.resolve_reference is not None
        try:
            value = entity.resolve_reference(representation, info)
            if inspect.isawaitable(value):
                value = await value
        except Exception as error:  # reported at this item, the others resolve
            return error
        return value

    async def resolve_batch(
        entity: Entity,
        indexed: list[tuple[int, dict[str, Any]]],
        info: GraphQLResolveInfo,
        results: list[Any],
    ) -> None:
        assert entity.resolve_references is not None
        try:
            values = list(
                await entity.resolve_references([rep for _, rep in indexed], info)
            )
        except Exception as error:  # every item of this type fails with it
            values = [error] * len(indexed)
        if len(values) != len(indexed):
            values = [
                GraphQLError(
                    f"resolving {entity.name} entities gave {len(values)} values "
                    f"for {len(indexed)} representations",
                    extensions={"code": "INTERNAL_SERVER_ERROR"},
                )
            ] * len(indexed)
        for (index, _), value in zip(indexed, values, strict=True):
            results[index] = value

    async def resolve_entities(
        _root: Any, info: GraphQLResolveInfo, representations: list[Any]
    ) -> list[Any]:
        results: list[Any] = [None] * len(representations)
        batches: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        singles: list[Awaitable[None]] = []
        for index, representation in enumerate(representations):
            entity = check(representation)
            if isinstance(entity, GraphQLError):
                results[index] = entity
            elif entity.resolve_references is not None:
                batches.setdefault(entity.name, []).append((index, representation))
            else:
                singles.append(
                    _store(results, index, resolve_one(entity, representation, info))
                )
        for name, indexed in batches.items():
            singles.append(resolve_batch(by_name[name], indexed, info, results))
        if singles:
            await asyncio.gather(*singles)
        return results

    union = schema.get_type("_Entity")
    assert isinstance(union, GraphQLUnionType)
    union.resolve_type = resolve_type
    query.fields["_entities"].resolve = resolve_entities
