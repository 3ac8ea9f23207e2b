"""Tests for gateway.composition: Federation 1 and 2 subgraph SDL to a Supergraph."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from graphql import parse, print_ast, validate

from gateway.composition import compose, supergraph_hash
from gateway.errors import CompositionError, CompositionIssue
from gateway.supergraph import Supergraph, TypeKind

PRODUCT = Path(__file__).parent / "composition" / "product"


def link(*imports: str, version: str = "2.3") -> str:
    names = ", ".join(f'"{name}"' for name in imports)
    return (
        f'extend schema @link(url: "https://specs.apollo.dev/federation/v{version}", '
        f"import: [{names}])\n"
    )


FED2 = link(
    "@key",
    "@external",
    "@requires",
    "@provides",
    "@shareable",
    "@override",
    "@inaccessible",
    "@interfaceObject",
)


def fed2(sdl: str) -> str:
    """``sdl`` as a Federation 2 subgraph importing every directive the tests use."""
    return FED2 + sdl


def issues_of(*subgraphs: tuple[str, str]) -> list[CompositionIssue]:
    with pytest.raises(CompositionError) as caught:
        compose(list(subgraphs))
    return list(caught.value.issues)


def codes(*subgraphs: tuple[str, str]) -> list[str]:
    return [issue.code for issue in issues_of(*subgraphs)]


def sources(supergraph: Supergraph, type_name: str, field_name: str) -> list[str]:
    field_def = supergraph.field(type_name, field_name)
    assert field_def is not None, f"{type_name}.{field_name} missing"
    return [source.subgraph for source in field_def.sources]


def selection(node: object) -> str:
    assert node is not None
    return " ".join(print_ast(node).split())  # type: ignore[arg-type]


# --- The product's own subgraphs -----------------------------------------------------


def test_the_products_three_subgraphs_compose() -> None:
    supergraph = compose(
        [
            (name, (PRODUCT / f"{name}.graphql").read_text())
            for name in ("claude", "git", "github")
        ]
    )
    sdl = supergraph.sdl
    assert "repository: Repository" in sdl
    assert (
        "type GitHubRepository {\n  owner: String!\n  name: String!\n  stars: Int!\n}"
        in sdl
    )
    assert "@key" not in sdl and "_entities" not in sdl and "_Service" not in sdl
    assert "FieldSet" not in sdl and "link__" not in sdl

    assert sources(supergraph, "Session", "workingDirectory") == ["claude"]
    working_directory = supergraph.field("Session", "workingDirectory")
    assert working_directory is not None and working_directory.external_in == {"git"}
    repository = supergraph.field("Session", "repository")
    assert repository is not None
    git_source = repository.source("git")
    assert (
        git_source is not None
        and selection(git_source.requires) == "{ workingDirectory }"
    )
    assert sources(supergraph, "GitHubRepository", "owner") == ["git", "github"]
    assert sources(supergraph, "GitHubRepository", "stars") == ["github"]
    github_repository = supergraph.type("GitHubRepository")
    assert github_repository.resolvable_keys("git") == ()
    assert [k.fields for k in github_repository.resolvable_keys("github")] == [
        "owner name"
    ]
    assert supergraph.type("Repository").subgraphs == {"git"}
    assert supergraph.schema.subscription_type is not None
    assert supergraph.type("Session").subgraphs == {"claude", "git"}


def test_subgraph_schemas_accept_entity_queries_the_planner_sends() -> None:
    supergraph = compose(
        [
            (name, (PRODUCT / f"{name}.graphql").read_text())
            for name in ("claude", "git", "github")
        ]
    )
    git = supergraph.subgraphs["git"].schema
    query = parse(
        "query($representations: [_Any!]!) { _entities(representations: $representations)"
        " { ... on Session { repository { path github { owner name } } } } }"
    )
    assert validate(git, query) == []
    # GitHubRepository has only a non-resolvable key in git: not an entity there.
    not_entity = parse(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on GitHubRepository { owner } } }"
    )
    assert validate(git, not_entity) != []
    assert validate(git, parse("{ _service { sdl } }")) == []


# --- Parsing and normalising ---------------------------------------------------------


def test_fed2_federation_machinery_is_stripped_from_the_client_schema() -> None:
    products = fed2("""
        type Product @key(fields: "upc") { upc: String! name: String! }
        type Query { topProducts: [Product!]! }
    """)
    reviews = fed2("""
        type Product @key(fields: "upc") { upc: String! reviews: [String!]! }
    """)
    supergraph = compose([("products", products), ("reviews", reviews)])
    assert supergraph.sdl == (
        "type Product {\n  upc: String!\n  name: String!\n  reviews: [String!]!\n}\n\n"
        "type Query {\n  topProducts: [Product!]!\n}"
    )
    assert sources(supergraph, "Product", "upc") == ["products", "reviews"]
    assert sources(supergraph, "Product", "reviews") == ["reviews"]
    assert supergraph.type("Product").is_entity
    assert supergraph.type("Product").kind is TypeKind.OBJECT


def test_fed1_extend_type_external_key_fields_are_resolvable_in_the_extending_subgraph() -> (
    None
):
    products = """
        type Product @key(fields: "upc") { upc: String! name: String }
        extend type Query { product(upc: String!): Product }
    """
    reviews = """
        type Review { body: String product: Product }
        extend type Product @key(fields: "upc") {
          upc: String! @external
          reviews: [Review]
        }
        extend type Query { reviews: [Review] }
    """
    supergraph = compose([("products", products), ("reviews", reviews)])
    assert sources(supergraph, "Product", "upc") == ["products", "reviews"]
    upc = supergraph.field("Product", "upc")
    assert upc is not None and upc.external_in == frozenset()
    assert sources(supergraph, "Product", "reviews") == ["reviews"]
    assert [k.subgraph for k in supergraph.type("Product").keys] == [
        "products",
        "reviews",
    ]
    assert "reviews: [Review]" in supergraph.sdl
    assert "product(upc: String!): Product" in supergraph.sdl


def test_fed1_subgraphs_treat_every_field_as_shareable() -> None:
    a = "type Query { hello: String } type Point { x: Int }"
    b = "extend type Query { hello: String point: Point } type Point { x: Int }"
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "Query", "hello") == ["a", "b"]
    assert sources(supergraph, "Point", "x") == ["a", "b"]


def test_fed1_extends_directive_is_accepted() -> None:
    products = 'type Product @key(fields: "id") { id: ID! } type Query { p: Product }'
    extra = 'type Product @extends @key(fields: "id") { id: ID! @external tag: String }'
    supergraph = compose([("products", products), ("extra", extra)])
    assert sources(supergraph, "Product", "tag") == ["extra"]
    assert sources(supergraph, "Product", "id") == ["products", "extra"]


ARIADNE_PRINTED = """
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @shareable repeatable on FIELD_DEFINITION | OBJECT
directive @link(url: String!, as: String, import: [Import]) repeatable on SCHEMA
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ENUM | ENUM_VALUE | SCALAR | INPUT_OBJECT | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION

extend schema @link(url: "https://specs.apollo.dev/federation/v2.2", import: ["@key"])

type Query {
  topProducts: [Product!]!
  _entities(representations: [_Any!]!): [_Entity]!
  _service: _Service!
}

type Product @key(fields: "upc") {
  upc: String!
  name: String! @shareable
}

scalar FieldSet
scalar Import
scalar _Any

type _Service {
  sdl: String
}

union _Entity = Product
"""


def test_printed_subgraph_sdl_with_service_and_entity_definitions_composes() -> None:
    other = (
        link("@key", "@shareable")
        + """
        type Product @key(fields: "upc") { upc: String! name: String! @shareable }
    """
    )
    supergraph = compose([("ariadne", ARIADNE_PRINTED), ("other", other)])
    assert supergraph.sdl == (
        "type Query {\n  topProducts: [Product!]!\n}\n\n"
        "type Product {\n  upc: String!\n  name: String!\n}"
    )
    assert set(supergraph.types) == {"Query", "Product"}
    assert sources(supergraph, "Product", "name") == ["ariadne", "other"]
    assert "_entities" not in supergraph.type("Query").fields


def test_fed1_printed_sdl_with_underscore_field_set_composes() -> None:
    printed = """
        directive @key(fields: _FieldSet!) repeatable on OBJECT | INTERFACE
        directive @external on FIELD_DEFINITION
        scalar _FieldSet
        scalar _Any
        type _Service { sdl: String }
        union _Entity = User
        type User @key(fields: "id") { id: ID! name: String }
        type Query { me: User _service: _Service! _entities(representations: [_Any!]!): [_Entity]! }
    """
    supergraph = compose([("users", printed)])
    assert (
        supergraph.sdl
        == "type User {\n  id: ID!\n  name: String\n}\n\ntype Query {\n  me: User\n}"
    )


def test_renamed_root_types_become_query_and_mutation_and_are_recorded() -> None:
    sdl = """
        schema { query: RootQuery mutation: RootMutation }
        type RootQuery { hello: String again: RootQuery }
        type RootMutation { bump: Int }
    """
    supergraph = compose([("a", sdl)])
    info = supergraph.subgraphs["a"]
    assert info.root_type_names == {"query": "RootQuery", "mutation": "RootMutation"}
    assert info.schema.query_type is not None and info.schema.query_type.name == "Query"
    assert "RootQuery" not in info.schema.type_map
    assert "type Query {\n  hello: String\n  again: Query\n}" in supergraph.sdl
    assert sources(supergraph, "Mutation", "bump") == ["a"]


def test_renamed_imports_and_namespaced_directives_are_recognised() -> None:
    sdl = """
        extend schema @link(
          url: "https://specs.apollo.dev/federation/v2.3"
          as: "fed"
          import: [{name: "@key", as: "@primaryKey"}]
        )
        type Product @primaryKey(fields: "id") { id: ID! secret: String @fed__inaccessible }
        type Query { product: Product @fed__shareable }
    """
    supergraph = compose([("a", sdl)])
    assert [k.fields for k in supergraph.type("Product").keys] == ["id"]
    secret = supergraph.field("Product", "secret")
    assert secret is not None and secret.inaccessible
    assert "secret" not in supergraph.sdl


def test_imported_field_set_scalar_is_used_for_added_directive_definitions() -> None:
    sdl = (
        link("@key", "FieldSet")
        + """
        type User @key(fields: "id") { id: ID! }
        type Query { me: User }
    """
    )
    supergraph = compose([("users", sdl)])
    key = supergraph.subgraphs["users"].schema.get_directive("key")
    assert key is not None and str(key.args["fields"].type) == "FieldSet!"
    assert "FieldSet" not in supergraph.sdl


def test_fed2_bare_federation_directives_work_without_an_import() -> None:
    a = link("@key") + "type Query { hello: String @shareable }"
    b = link("@key") + "type Query { hello: String @shareable }"
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "Query", "hello") == ["a", "b"]


def test_user_types_that_reuse_federation_support_names_are_kept() -> None:
    sdl = link("@key") + "scalar Import type Query { load(what: Import): Int }"
    supergraph = compose([("a", sdl)])
    assert "scalar Import" in supergraph.sdl


def test_syntax_error_names_the_subgraph_line_and_column() -> None:
    issues = issues_of(
        ("good", "type Query { a: Int }"), ("bad", "type Query {\n  a: \n}")
    )
    assert len(issues) == 1
    issue = issues[0]
    assert issue.code == "INVALID_GRAPHQL"
    assert issue.subgraphs == ("bad",)
    assert "line 3, column 1" in issue.message


def test_unknown_type_in_a_subgraph_is_an_invalid_graphql_issue() -> None:
    issues = issues_of(("a", "type Query { a: Missing }"))
    assert [i.code for i in issues] == ["INVALID_GRAPHQL"]
    assert "Missing" in issues[0].message and issues[0].subgraphs == ("a",)


def test_no_subgraphs_and_duplicate_names_are_rejected() -> None:
    with pytest.raises(CompositionError) as caught:
        compose([])
    assert [i.code for i in caught.value.issues] == ["NO_SUBGRAPHS"]
    assert "INVALID_SUBGRAPH_NAME" in codes(
        ("a", "type Query { a: Int }"), ("a", "type Query { b: Int }")
    )


# --- Merging -------------------------------------------------------------------------


def test_descriptions_deprecations_scalars_and_default_values_are_kept() -> None:
    a = fed2("""
        "When something happened."
        scalar DateTime @specifiedBy(url: "https://tools.ietf.org/html/rfc3339")
        type Query {
          "The events, newest first."
          events(first: Int = 10, order: Order = NEWEST): [Event!]!
          old: String @deprecated(reason: "use events")
        }
        enum Order { NEWEST OLDEST @deprecated(reason: "nobody asks") }
        type Event { at: DateTime! }
    """)
    supergraph = compose([("a", a)])
    sdl = supergraph.sdl
    assert '"""When something happened."""\nscalar DateTime @specifiedBy' in sdl
    assert '"""The events, newest first."""' in sdl
    assert "events(first: Int = 10, order: Order = NEWEST): [Event!]!" in sdl
    assert 'old: String @deprecated(reason: "use events")' in sdl
    assert 'OLDEST @deprecated(reason: "nobody asks")' in sdl
    assert supergraph.type("DateTime").kind is TypeKind.SCALAR


def test_unions_and_enums_merge_to_the_union_of_members_and_values() -> None:
    a = fed2("""
        type Query { search: Result color: Color }
        union Result = Book
        type Book { title: String }
        enum Color { RED GREEN }
    """)
    b = fed2("""
        union Result = Movie
        type Movie { director: String }
        enum Color { GREEN BLUE }
        type Query { palette: [Color!] }
    """)
    supergraph = compose([("a", a), ("b", b)])
    assert "union Result = Book | Movie" in supergraph.sdl
    assert "enum Color {\n  RED\n  GREEN\n  BLUE\n}" in supergraph.sdl
    assert supergraph.type("Result").possible_types == ("Book", "Movie")


def test_input_types_merge_to_the_intersection_of_fields_most_restrictive_type() -> (
    None
):
    a = fed2("""
        input Filter { name: String limit: Int onlyA: String }
        type Query { a(filter: Filter): Int }
    """)
    b = fed2("""
        input Filter { name: String! limit: Int }
        type Query { b(filter: Filter): Int }
    """)
    supergraph = compose([("a", a), ("b", b)])
    assert "input Filter {\n  name: String!\n  limit: Int\n}" in supergraph.sdl


def test_required_input_field_missing_in_a_subgraph_is_an_error() -> None:
    a = fed2("input Filter { name: String! } type Query { a(filter: Filter): Int }")
    b = fed2("input Filter { other: Int } type Query { b(filter: Filter): Int }")
    issues = issues_of(("a", a), ("b", b))
    required = [
        i for i in issues if i.code == "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH"
    ]
    assert len(required) == 1
    assert "Filter.name" in required[0].message and set(required[0].subgraphs) == {
        "a",
        "b",
    }
    assert "EMPTY_MERGED_INPUT_TYPE" in [i.code for i in issues]


def test_output_field_nullability_differences_merge_to_the_nullable_type() -> None:
    a = fed2("type Query { a: Int } type Point @shareable { x: Int! ys: [Int!]! }")
    b = fed2("type Query { b: Point } type Point @shareable { x: Int ys: [Int]! }")
    supergraph = compose([("a", a), ("b", b)])
    assert "type Point {\n  x: Int\n  ys: [Int]!\n}" in supergraph.sdl
    x = supergraph.field("Point", "x")
    assert x is not None and x.type == "Int"


def test_arguments_merge_to_the_intersection_with_the_most_restrictive_type() -> None:
    a = fed2("type Query { f(x: Int, y: Int): Int @shareable }")
    b = fed2("type Query { f(x: Int!): Int @shareable }")
    supergraph = compose([("a", a), ("b", b)])
    assert "f(x: Int!): Int" in supergraph.sdl


def test_required_argument_missing_in_a_subgraph_is_an_error() -> None:
    a = fed2("type Query { f(x: Int!): Int @shareable }")
    b = fed2("type Query { f: Int @shareable }")
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH"]
    assert "Query.f(x:)" in issues[0].message


def test_interfaces_merge_fields_and_list_possible_types() -> None:
    a = fed2("""
        interface Node { id: ID! }
        type User implements Node @key(fields: "id") { id: ID! name: String }
        type Query { node(id: ID!): Node }
    """)
    b = fed2("""
        interface Node { id: ID! createdAt: String }
        type Team implements Node { id: ID! createdAt: String }
        type User implements Node @key(fields: "id") { id: ID! createdAt: String }
        type Query { teams: [Team!]! }
    """)
    supergraph = compose([("a", a), ("b", b)])
    assert "interface Node {\n  id: ID!\n  createdAt: String\n}" in supergraph.sdl
    assert (
        "type User implements Node {\n  id: ID!\n  name: String\n  createdAt: String\n}"
        in supergraph.sdl
    )
    node = supergraph.type("Node")
    assert node.kind is TypeKind.INTERFACE
    assert node.possible_types == ("User", "Team")
    assert sources(supergraph, "Node", "id") == ["a", "b"]


def test_inaccessible_elements_are_absent_from_the_client_schema_but_kept_in_types() -> (
    None
):
    a = fed2("""
        type Query { user: User internal: Secret @inaccessible }
        type User { name: String email: String @inaccessible }
        type Secret @inaccessible { token: String }
        enum Role { ADMIN STAFF @inaccessible }
        input Filter { name: String hidden: Int @inaccessible }
        type Mutation { setRole(role: Role, filter: Filter, debug: Boolean @inaccessible): Int }
    """)
    supergraph = compose([("a", a)])
    sdl = supergraph.sdl
    for absent in ("Secret", "internal", "email", "STAFF", "hidden", "debug"):
        assert absent not in sdl, absent
    assert "setRole(role: Role, filter: Filter): Int" in sdl
    assert supergraph.type("Secret").inaccessible
    email = supergraph.field("User", "email")
    assert (
        email is not None
        and email.inaccessible
        and sources(supergraph, "User", "email") == ["a"]
    )


def test_accessible_field_returning_an_inaccessible_type_is_an_error() -> None:
    a = fed2(
        "type Query { secret: Secret } type Secret @inaccessible { token: String }"
    )
    issues = issues_of(("a", a))
    assert [i.code for i in issues] == ["REFERENCED_INACCESSIBLE"]
    assert "Query.secret" in issues[0].message


def test_keys_several_composite_nested_and_non_resolvable() -> None:
    a = fed2("""
        type Org { id: ID! }
        type Product @key(fields: "id") @key(fields: "sku vendor") @key(fields: "id org { id }") {
          id: ID! sku: String! vendor: String! org: Org!
        }
        type Query { product: Product }
    """)
    b = fed2("""
        type Product @key(fields: "id", resolvable: false) { id: ID! }
        type Query { featured: Product }
    """)
    supergraph = compose([("a", a), ("b", b)])
    product = supergraph.type("Product")
    assert [(k.subgraph, k.fields, k.resolvable) for k in product.keys] == [
        ("a", "id", True),
        ("a", "sku vendor", True),
        ("a", "id org { id }", True),
        ("b", "id", False),
    ]
    assert selection(product.keys[2].selection) == "{ id org { id } }"
    assert product.resolvable_keys("b") == ()
    assert len(product.resolvable_keys("a")) == 3


def test_requires_and_provides_selections_are_parsed_into_sources() -> None:
    products = fed2("""
        type Product @key(fields: "upc") { upc: String! weight: Int price: Int name: String @shareable }
        type Query { topProducts: [Product] }
    """)
    shipping = fed2("""
        type Product @key(fields: "upc") {
          upc: String!
          weight: Int @external
          price: Int @external
          shippingEstimate: Int @requires(fields: "weight price")
        }
    """)
    reviews = fed2("""
        type Review { body: String product: Product @provides(fields: "name") }
        type Product @key(fields: "upc") { upc: String! name: String @external }
        type Query { reviews: [Review] }
    """)
    supergraph = compose(
        [("products", products), ("shipping", shipping), ("reviews", reviews)]
    )
    estimate = supergraph.field("Product", "shippingEstimate")
    assert estimate is not None
    source = estimate.source("shipping")
    assert source is not None and selection(source.requires) == "{ weight price }"
    product = supergraph.field("Review", "product")
    assert product is not None
    review_source = product.source("reviews")
    assert review_source is not None and selection(review_source.provides) == "{ name }"
    name = supergraph.field("Product", "name")
    assert name is not None and name.external_in == {"reviews"}
    assert sources(supergraph, "Product", "name") == ["products"]
    weight = supergraph.field("Product", "weight")
    assert weight is not None and weight.external_in == {"shipping"}


def test_override_removes_the_overridden_subgraph_as_a_source() -> None:
    old = fed2(
        'type Product @key(fields: "id") { id: ID! price: Int } type Query { p: Product }'
    )
    new = fed2(
        'type Product @key(fields: "id") { id: ID! price: Int @override(from: "old") }'
    )
    supergraph = compose([("old", old), ("new", new)])
    assert sources(supergraph, "Product", "price") == ["new"]
    assert supergraph.hints == ()


def test_override_from_an_unknown_subgraph_is_a_hint_not_an_error() -> None:
    a = fed2('type Query { hello: String @override(from: "nowhere") }')
    supergraph = compose([("a", a)])
    assert [h.code for h in supergraph.hints] == ["FROM_SUBGRAPH_DOES_NOT_EXIST"]
    assert sources(supergraph, "Query", "hello") == ["a"]


def test_override_from_itself_is_an_error() -> None:
    a = fed2('type Query { hello: String @override(from: "a") }')
    assert codes(("a", a)) == ["OVERRIDE_FROM_SELF_ERROR"]


def test_shareable_value_type_resolves_its_fields_in_every_defining_subgraph() -> None:
    a = fed2(
        "type Money @shareable { amount: Int currency: String } type Query { price: Money }"
    )
    b = fed2(
        "type Money { amount: Int @shareable currency: String @shareable } type Query { cost: Money }"
    )
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "Money", "amount") == ["a", "b"]
    assert supergraph.type("Money").keys == ()


def test_entity_interface_and_interface_object_add_fields_to_implementations() -> None:
    a = fed2("""
        interface Media @key(fields: "id") { id: ID! title: String }
        type Book implements Media @key(fields: "id") { id: ID! title: String }
        type Movie implements Media @key(fields: "id") { id: ID! title: String }
        type Query { media: [Media] }
    """)
    b = fed2("""
        type Media @key(fields: "id") @interfaceObject {
          id: ID!
          title: String @external
          reviews: [String] @requires(fields: "title")
        }
    """)
    supergraph = compose([("a", a), ("b", b)])
    media = supergraph.type("Media")
    assert media.kind is TypeKind.INTERFACE
    assert media.interface_object_in == {"b"}
    assert media.possible_types == ("Book", "Movie")
    assert [k.subgraph for k in media.keys] == ["a", "b"]
    assert sources(supergraph, "Media", "reviews") == ["b"]
    assert sources(supergraph, "Book", "reviews") == ["b"]
    reviews = supergraph.field("Book", "reviews")
    assert reviews is not None and reviews.sources[0].requires is not None
    assert (
        "type Movie implements Media {\n  id: ID!\n  title: String\n  reviews: [String]\n}"
        in supergraph.sdl
    )
    assert (
        validate(
            supergraph.subgraphs["b"].schema,
            parse(
                "query($r: [_Any!]!) { _entities(representations: $r) { ... on Media { reviews } } }"
            ),
        )
        == []
    )


def test_executable_directives_defined_in_every_subgraph_reach_the_client_schema() -> (
    None
):
    a = "directive @lowercase on FIELD type Query { a: String }"
    b = "directive @lowercase on FIELD | FRAGMENT_SPREAD type Query { b: String } directive @onlyB on FIELD"
    supergraph = compose([("a", a), ("b", b)])
    assert "directive @lowercase on FIELD\n" in supergraph.sdl
    assert "onlyB" not in supergraph.sdl


# --- Errors --------------------------------------------------------------------------


def test_field_type_mismatch_names_both_subgraphs_and_types() -> None:
    issues = issues_of(
        ("a", "type Query { hello: String }"), ("b", "type Query { hello: Int }")
    )
    assert [i.code for i in issues] == ["FIELD_TYPE_MISMATCH"]
    assert issues[0].subgraphs == ("a", "b")
    assert "Query.hello" in issues[0].message
    assert "String in 'a'" in issues[0].message and "Int in 'b'" in issues[0].message


def test_list_versus_single_value_is_a_type_mismatch_even_with_nullability() -> None:
    a = fed2("type Query { a: Int } type P @shareable { x: [Int] }")
    b = fed2("type Query { b: P } type P @shareable { x: Int! }")
    assert codes(("a", a), ("b", b)) == ["FIELD_TYPE_MISMATCH"]


def test_non_shareable_field_in_two_subgraphs_is_an_error() -> None:
    a = fed2(
        'type Product @key(fields: "id") { id: ID! name: String } type Query { p: Product }'
    )
    b = fed2('type Product @key(fields: "id") { id: ID! name: String @shareable }')
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["INVALID_FIELD_SHARING"]
    assert (
        "Product.name" in issues[0].message
        and "not @shareable in 'a'" in issues[0].message
    )
    assert issues[0].subgraphs == ("a", "b")


def test_root_field_defined_in_two_fed2_subgraphs_without_shareable_is_an_error() -> (
    None
):
    a = fed2("type Query { hello: String }")
    b = fed2("type Query { hello: String }")
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["INVALID_FIELD_SHARING"]
    assert "Query.hello" in issues[0].message


def test_requires_on_fields_that_are_not_external_is_an_error() -> None:
    a = fed2(
        'type Product @key(fields: "id") { id: ID! weight: Int } type Query { p: Product }'
    )
    b = fed2("""
        type Product @key(fields: "id") {
          id: ID! weight: Int @shareable
          shipping: Int @requires(fields: "weight")
        }
    """)
    issues = issues_of(
        ("a", a.replace("weight: Int", "weight: Int @shareable")), ("b", b)
    )
    assert [i.code for i in issues] == ["REQUIRES_FIELDS_MISSING_EXTERNAL"]
    assert issues[0].subgraphs == ("b",) and "Product.weight" in issues[0].message


def test_requires_naming_a_missing_field_is_an_error() -> None:
    a = fed2('type Product @key(fields: "id") { id: ID! } type Query { p: Product }')
    b = fed2(
        'type Product @key(fields: "id") { id: ID! s: Int @requires(fields: "nope") }'
    )
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["REQUIRES_INVALID_FIELDS"]
    assert "Product.nope" in issues[0].message


def test_key_naming_a_field_that_does_not_exist_is_an_error() -> None:
    a = fed2(
        'type Product @key(fields: "id sku") { id: ID! } type Query { p: Product }'
    )
    issues = issues_of(("a", a))
    assert [i.code for i in issues] == ["KEY_INVALID_FIELDS"]
    assert "Product.sku does not exist" in issues[0].message and issues[
        0
    ].subgraphs == ("a",)


def test_key_with_a_syntax_error_or_a_bad_nested_selection_is_an_error() -> None:
    a = fed2("""
        type Org { id: ID! }
        type Product @key(fields: "id {") @key(fields: "org") @key(fields: "id { x }") {
          id: ID! org: Org
        }
        type Query { p: Product }
    """)
    assert codes(("a", a)) == ["KEY_INVALID_FIELDS"] * 3


def test_provides_on_a_field_returning_a_scalar_is_an_error() -> None:
    a = fed2('type Query { n: Int @provides(fields: "x") }')
    issues = issues_of(("a", a))
    assert [i.code for i in issues] == ["PROVIDES_ON_NON_OBJECT_FIELD"]
    assert "Query.n" in issues[0].message


def test_provides_naming_missing_fields_is_an_error() -> None:
    a = fed2("""
        type Product @key(fields: "id") { id: ID! }
        type Query { p: Product @provides(fields: "name") }
    """)
    issues = issues_of(("a", a))
    assert [i.code for i in issues] == ["PROVIDES_INVALID_FIELDS"]
    assert "Product.name does not exist" in issues[0].message


def test_type_with_different_kinds_in_two_subgraphs_is_an_error() -> None:
    a = fed2("type Query { a: Thing } type Thing { x: Int }")
    b = fed2("type Query { b: Thing } interface Thing { x: Int }")
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["TYPE_KIND_MISMATCH"]
    assert issues[0].subgraphs == ("a", "b")
    assert (
        "object in 'a'" in issues[0].message and "interface in 'b'" in issues[0].message
    )


def test_a_schema_without_query_fields_is_an_error() -> None:
    a = fed2('type Product @key(fields: "id") { id: ID! }')
    assert codes(("a", a)) == ["NO_QUERIES"]
    assert codes(("a", fed2("type Query { x: Int @inaccessible }"))) == ["NO_QUERIES"]


def test_a_field_external_everywhere_has_no_source_and_is_an_error() -> None:
    a = fed2(
        'type Product @key(fields: "id") { id: ID! name: String @external } type Query { p: Product }'
    )
    issues = issues_of(("a", a))
    assert [i.code for i in issues] == ["EXTERNAL_MISSING_ON_BASE"]


def test_every_issue_is_reported_at_once() -> None:
    a = fed2("""
        type Query { hello: String @shareable }
        type Product @key(fields: "nope") { id: ID! }
        type Thing { x: Int }
    """)
    b = fed2("""
        type Query { hello: Int @shareable }
        interface Thing { x: Int }
    """)
    found = codes(("a", a), ("b", b))
    assert sorted(found) == [
        "FIELD_TYPE_MISMATCH",
        "KEY_INVALID_FIELDS",
        "TYPE_KIND_MISMATCH",
    ]


def test_composition_error_message_lists_every_issue() -> None:
    with pytest.raises(CompositionError) as caught:
        compose(
            [("a", "type Query { hello: String }"), ("b", "type Query { hello: Int }")]
        )
    assert caught.value.code == "COMPOSITION_ERROR"
    assert "FIELD_TYPE_MISMATCH [a, b]" in str(caught.value)


# --- Hash ----------------------------------------------------------------------------


def test_hash_is_sha256_over_the_name_and_sdl_pairs() -> None:
    pairs = [("a", "type Query { a: Int }"), ("b", "type Query { b: Int }")]
    supergraph = compose(pairs)
    expected = hashlib.sha256(json.dumps([list(p) for p in pairs]).encode()).hexdigest()
    assert supergraph.hash == expected == supergraph_hash(pairs)
    assert supergraph_hash([("a", "type Query { a: Int }")]) != supergraph.hash
    assert supergraph_hash(list(reversed(pairs))) != supergraph.hash


# --- Issue 9: what composition must accept, and what it must refuse -------------------


def test_object_and_union_field_types_compose_to_the_union_with_each_own_type() -> None:
    a = fed2("""
        type Query { featured: Book @shareable }
        type Book @key(fields: "id") { id: ID! title: String }
    """)
    b = fed2("""
        type Query { featured: Media @shareable }
        union Media = Book | Film
        type Book @key(fields: "id") { id: ID! }
        type Film @key(fields: "id") { id: ID! }
    """)
    supergraph = compose([("a", a), ("b", b)])
    featured = supergraph.field("Query", "featured")
    assert featured is not None and featured.type == "Media"
    assert {s.subgraph: s.type for s in featured.sources} == {"a": "Book", "b": "Media"}


def test_object_and_unrelated_object_field_types_are_a_type_mismatch() -> None:
    a = fed2("type Query { x: A @shareable } type A { id: ID }")
    b = fed2("type Query { x: B @shareable } type B { id: ID }")
    assert codes(("a", a), ("b", b)) == ["FIELD_TYPE_MISMATCH"]


def test_requires_may_select_fields_with_arguments() -> None:
    a = fed2("""
        type Query { products: [Product] }
        type Product @key(fields: "id") { id: ID! price(currency: String!): Float }
    """)
    b = fed2("""
        type Product @key(fields: "id") {
          id: ID!
          price(currency: String!): Float @external
          tax: Float @requires(fields: "price(currency: \\"USD\\")")
        }
    """)
    supergraph = compose([("a", a), ("b", b)])
    tax = supergraph.field("Product", "tax")
    assert tax is not None
    assert selection(tax.sources[0].requires) == '{ price(currency: "USD") }'


def test_requires_naming_an_argument_the_field_lacks_is_an_error() -> None:
    a = fed2("""
        type Query { products: [Product] }
        type Product @key(fields: "id") { id: ID! price: Float }
    """)
    b = fed2("""
        type Product @key(fields: "id") {
          id: ID!
          price: Float @external
          tax: Float @requires(fields: "price(currency: \\"USD\\")")
        }
    """)
    assert codes(("a", a), ("b", b)) == ["REQUIRES_INVALID_FIELDS"]


def test_provides_on_a_union_field_selects_through_inline_fragments() -> None:
    a = fed2("""
        type Query { items: [Item] @provides(fields: "... on Book { title }") }
        union Item = Book | Song
        type Book @key(fields: "id") { id: ID! title: String @external }
        type Song @key(fields: "id") { id: ID! }
    """)
    b = fed2('type Book @key(fields: "id") { id: ID! title: String @shareable }')
    supergraph = compose([("a", a), ("b", b)])
    items = supergraph.field("Query", "items")
    assert items is not None
    assert selection(items.sources[0].provides) == "{ ... on Book { title } }"


def test_fed2_external_key_field_is_not_a_source_and_needs_no_shareable() -> None:
    # The shape of the audit's simple-entity-call: `email` is a key only where it
    # is @external, so only the sharing of a resolved field could be at stake.
    a = fed2("""
        type Query { me: User }
        type User @key(fields: "id") { id: ID! email: String! name: String }
    """)
    b = fed2("""
        type User @key(fields: "email") { email: String! @external reviews: Int }
    """)
    supergraph = compose([("a", a), ("b", b)])
    email = supergraph.field("User", "email")
    assert email is not None
    assert sources(supergraph, "User", "email") == ["a"]
    assert email.external_in == {"b"}


def test_fed1_external_key_field_of_an_extension_stays_a_source() -> None:
    a = 'type Query { me: User } type User @key(fields: "id") { id: ID! }'
    b = 'extend type User @key(fields: "id") { id: ID! @external reviews: Int }'
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "User", "id") == ["a", "b"]


def test_fields_nested_in_a_composite_key_are_shareable() -> None:
    a = fed2("""
        type Query { items: [Item] }
        type Item @key(fields: "id { one two }") { id: ItemId! stock: Int }
        type ItemId { one: String! two: String! }
    """)
    b = fed2("""
        type Item @key(fields: "id { one two }") { id: ItemId! price: Float }
        type ItemId { one: String! two: String! }
    """)
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "ItemId", "one") == ["a", "b"]


def test_fields_of_a_value_type_outside_any_key_still_need_shareable() -> None:
    a = fed2("""
        type Query { items: [Item] }
        type Item @key(fields: "id") { id: ID! tag: Tag @shareable }
        type Tag { label: String }
    """)
    b = fed2("""
        type Item @key(fields: "id") { id: ID! tag: Tag @shareable }
        type Tag { label: String }
    """)
    assert codes(("a", a), ("b", b)) == ["INVALID_FIELD_SHARING"]


def test_only_top_level_leaves_of_a_requires_need_external_in_fed2() -> None:
    posts = fed2("""
        type Query { posts: [Post] }
        type Post @key(fields: "id") { id: ID! author: Author @shareable }
        type Author @key(fields: "id") { id: ID! }
    """)
    authors = fed2('type Author @key(fields: "id") { id: ID! years: Int }')
    ranking = fed2("""
        type Post @key(fields: "id") {
          id: ID!
          author: Author @shareable
          rank: Int @requires(fields: "author { years }")
        }
        type Author @key(fields: "id") { id: ID! years: Int @external }
    """)
    compose([("posts", posts), ("authors", authors), ("ranking", ranking)])
    internal_leaf = ranking.replace(
        'rank: Int @requires(fields: "author { years }")',
        'rank: Int @requires(fields: "id")',
    )
    assert codes(
        ("posts", posts), ("authors", authors), ("ranking", internal_leaf)
    ) == ["REQUIRES_FIELDS_MISSING_EXTERNAL"]


def test_an_unreachable_field_is_a_satisfiability_error_naming_the_query() -> None:
    a = fed2("type Query { things: [Thing] } type Thing @shareable { a: String }")
    b = fed2(
        "type Query { more: [Thing] } type Thing @shareable { a: String b: String }"
    )
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["SATISFIABILITY_ERROR"]
    assert "{\n  things {\n    b\n  }\n}" in issues[0].message
    assert 'from subgraph "a": cannot find field "Thing.b".' in issues[0].message


def test_a_shareable_field_may_continue_in_the_subgraph_that_has_the_rest() -> None:
    # Cosmo's demo shape: { employees { details { hasChildren } } } is reached by
    # taking `details` from the family subgraph after an entity jump.
    staff = fed2("""
        type Query { members: [Member] }
        type Member @key(fields: "id") { id: Int! profile: Profile! @shareable }
        type Profile { name: String! @shareable }
    """)
    family = fed2("""
        type Member @key(fields: "id") { id: Int! profile: Profile @shareable }
        type Profile { name: String! @shareable hasChildren: Boolean! }
    """)
    supergraph = compose([("staff", staff), ("family", family)])
    assert sources(supergraph, "Profile", "hasChildren") == ["family"]


def test_a_provided_external_field_must_be_shareable_where_it_is_resolved() -> None:
    a = fed2("""
        type Query { items: [Item] @provides(fields: "... on Book { title }") }
        union Item = Book | Song
        type Book @key(fields: "id") { id: ID! title: String @external }
        type Song @key(fields: "id") { id: ID! }
    """)
    b = fed2('type Book @key(fields: "id") { id: ID! title: String }')
    issues = issues_of(("a", a), ("b", b))
    assert [i.code for i in issues] == ["INVALID_FIELD_SHARING"]
    assert "not @shareable in 'b'" in issues[0].message


def test_requires_through_nested_fragments_under_an_external_field_composes() -> None:
    # Apollo composes this (The Guild reports it unsatisfiable): the fragments
    # select fields of the implementations that the other subgraph resolves.
    a = fed2("""
        type Query { a: Thing @shareable }
        type Thing @key(fields: "id") { id: ID! data: Shape }
        interface Shape { name: String! }
        interface Polygon implements Shape { name: String! sides: Int! }
        type Square implements Shape & Polygon @shareable {
          name: String! sides: Int! side: Int!
        }
        type Triangle implements Shape & Polygon @shareable {
          name: String! sides: Int! base: Int!
        }
    """)
    b = fed2("""
        type Query { b: Thing @shareable }
        type Thing @key(fields: "id") {
          id: ID!
          data: Shape @external
          summary: String! @requires(fields: "data { name ... on Polygon { sides ... on Square { side } ... on Triangle { base } } }")
        }
        interface Shape { name: String! }
        interface Polygon implements Shape { name: String! sides: Int! }
        type Square implements Shape & Polygon @shareable {
          name: String! sides: Int! side: Int!
        }
        type Triangle implements Shape & Polygon @shareable {
          name: String! sides: Int! base: Int!
        }
    """)
    supergraph = compose([("a", a), ("b", b)])
    summary = supergraph.field("Thing", "summary")
    assert summary is not None and summary.sources[0].requires is not None


def test_an_argument_with_incompatible_types_is_an_argument_type_mismatch() -> None:
    a = fed2("type Query { f(x: Int): Int @shareable }")
    b = fed2("type Query { f(x: String): Int @shareable }")
    assert codes(("a", a), ("b", b)) == ["ARGUMENT_TYPE_MISMATCH"]


def test_different_defaults_of_an_argument_or_input_field_are_errors() -> None:
    a = fed2("""
        type Query { f(x: Int = 1, filter: Filter): Int @shareable }
        input Filter { limit: Int = 10 }
    """)
    b = fed2("""
        type Query { f(x: Int = 2, filter: Filter): Int @shareable }
        input Filter { limit: Int = 20 }
    """)
    issues = issues_of(("a", a), ("b", b))
    assert sorted(i.code for i in issues) == [
        "ARGUMENT_DEFAULT_MISMATCH",
        "INPUT_FIELD_DEFAULT_MISMATCH",
    ]
    assert any("default 1 in 'a' but 2 in 'b'" in i.message for i in issues)


def test_an_override_label_is_a_hint_and_the_override_applies() -> None:
    a = fed2("""
        type Query { me: User }
        type User @key(fields: "id") { id: ID! name: String }
    """)
    b = fed2("""
        type User @key(fields: "id") {
          id: ID!
          name: String @override(from: "a", label: "percent(50)")
        }
    """)
    supergraph = compose([("a", a), ("b", b)])
    assert sources(supergraph, "User", "name") == ["b"]
    assert [h.code for h in supergraph.hints] == ["OVERRIDE_LABEL_IGNORED"]


def test_every_rule_module_is_registered_and_named_after_its_code() -> None:
    import gateway.composition.rules as rules_package

    folder = Path(rules_package.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    registered = sorted(
        [rule.__name__ for rule in rules_package.RULES] + ["satisfiability_error"]
    )
    assert modules == registered
    for module in modules:
        text = (folder / f"{module}.py").read_text()
        assert f'"{module.upper()}"' in text or text.startswith(
            f'"""{module.upper()} (a hint)'
        ), module


def test_a_satisfiability_error_prints_a_query_a_client_could_send() -> None:
    a = fed2("""
        type Query { things(first: Int!, kind: Kind!, where: Where): [Thing] }
        enum Kind { SMALL LARGE }
        input Where { name: String! }
        type Thing @shareable { a: String }
    """)
    b = fed2(
        "type Query { more: [Thing] } type Thing @shareable { a: String b: String }"
    )
    issues = issues_of(("a", a), ("b", b))
    assert 'things(first: 0, kind: SMALL, where: {name: "A string value"}) {' in (
        issues[0].message
    )
