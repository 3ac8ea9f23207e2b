"""QueryPlanner and CachingQueryPlanner on the accounts/products/inventory/reviews graph.

The supergraph is hand-made from the SDL (tests/scenarios/handmade.py) so these tests
do not depend on composition.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, print_ast, validate

from gateway.errors import PlanningError
from gateway.operation import Operation, OperationCache
from gateway.planner import CachingQueryPlanner, QueryPlanner
from gateway.planner.nodes import (
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    QueryPlan,
    Sequence,
    Subscription,
    print_plan,
)
from gateway.supergraph import Supergraph
from tests.scenarios.handmade import build_supergraph

CLASSIC = Path(__file__).parent / "scenarios" / "classic_sdl"
SUBGRAPHS = ("accounts", "products", "inventory", "reviews")


def classic_sdl() -> dict[str, str]:
    return {name: (CLASSIC / f"{name}.graphql").read_text() for name in SUBGRAPHS}


@pytest.fixture(scope="module")
def supergraph() -> Supergraph:
    return build_supergraph(classic_sdl())


def operation(supergraph: Supergraph, query: str, name: str | None = None) -> Operation:
    return OperationCache(supergraph.schema).get(query, name)


def plan(
    supergraph: Supergraph, query: str, variables: dict[str, Any] | None = None
) -> QueryPlan:
    return QueryPlanner(supergraph).plan(operation(supergraph, query), variables)


def fetches(node: PlanNode | None) -> Iterator[Fetch]:
    if node is None:
        return
    if isinstance(node, Fetch):
        yield node
    elif isinstance(node, Flatten):
        yield node.node
    elif isinstance(node, (Sequence, Parallel)):
        for child in node.nodes:
            yield from fetches(child)
    else:
        yield node.primary
        yield from fetches(node.rest)


def assert_valid_for_subgraphs(supergraph: Supergraph, query_plan: QueryPlan) -> None:
    for fetch in fetches(query_plan.node):
        schema = supergraph.subgraphs[fetch.subgraph].schema
        assert validate(schema, fetch.document) == [], fetch.operation
        # The document is built without a parse: it must be what the text says.
        assert print_ast(fetch.document) == print_ast(parse(fetch.operation))


def test_root_fields_of_two_subgraphs_are_fetched_in_parallel(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(supergraph, "{ me { name } topProducts { name } }")
    assert isinstance(query_plan.node, Parallel)
    assert [f.subgraph for f in fetches(query_plan.node)] == ["accounts", "products"]


def test_root_fields_of_one_subgraph_share_one_fetch(supergraph: Supergraph) -> None:
    query_plan = plan(
        supergraph, '{ a: topProducts { name } b: product(upc: "1") { name } }'
    )
    assert isinstance(query_plan.node, Fetch)
    assert query_plan.node.subgraph == "products"


def test_entity_join_selects_typename_and_key_in_the_parent(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(supergraph, "{ topProducts { name reviews { body } } }")
    root, flatten = fetches(query_plan.node)
    assert "__typename" in root.operation and "upc" in root.operation
    assert isinstance(query_plan.node, Sequence)
    entity = query_plan.node.nodes[1]
    assert isinstance(entity, Flatten) and entity.path == ("topProducts", "@")
    assert flatten.subgraph == "reviews"
    assert "_entities(representations: $representations)" in flatten.operation
    assert [f.name for f in flatten.representation["Product"]] == ["__typename", "upc"]
    assert_valid_for_subgraphs(supergraph, query_plan)


def test_requires_fields_are_fetched_first_and_sent_in_representations(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(supergraph, "{ me { reviews { product { shippingEstimate } } } }")
    subgraphs = [f.subgraph for f in fetches(query_plan.node)]
    assert subgraphs == ["accounts", "reviews", "products", "inventory"]
    inventory = list(fetches(query_plan.node))[-1]
    names = [f.name for f in inventory.representation["Product"]]
    assert names == ["__typename", "upc", "price", "weight"]
    assert_valid_for_subgraphs(supergraph, query_plan)


def test_requires_satisfied_by_the_parent_needs_no_extra_fetch(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(supergraph, "{ topProducts { shippingEstimate } }")
    assert [f.subgraph for f in fetches(query_plan.node)] == ["products", "inventory"]
    root = next(fetches(query_plan.node))
    assert "price" in root.operation and "weight" in root.operation


def test_provides_avoids_a_fetch(supergraph: Supergraph) -> None:
    provided = plan(supergraph, "{ topProducts { reviews { author { username } } } }")
    assert [f.subgraph for f in fetches(provided.node)] == ["products", "reviews"]
    not_provided = plan(supergraph, "{ topProducts { reviews { author { name } } } }")
    assert [f.subgraph for f in fetches(not_provided.node)] == [
        "products",
        "reviews",
        "accounts",
    ]


def test_fields_stay_in_the_current_subgraph_when_it_can_resolve_them(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(
        supergraph, "{ topProducts { reviews { author { reviews { body } } } } }"
    )
    assert [f.subgraph for f in fetches(query_plan.node)] == ["products", "reviews"]


def test_only_the_variables_a_fetch_uses_are_declared(supergraph: Supergraph) -> None:
    query_plan = plan(
        supergraph,
        "query ($first: Int, $id: ID!) { topProducts(first: $first) { name } "
        "user(id: $id) { name } }",
    )
    by_subgraph = {f.subgraph: f for f in fetches(query_plan.node)}
    assert by_subgraph["products"].variable_usages == ("first",)
    assert "$first: Int" in by_subgraph["products"].operation
    assert "$id" not in by_subgraph["products"].operation
    assert by_subgraph["accounts"].variable_usages == ("id",)
    assert_valid_for_subgraphs(supergraph, query_plan)


def test_skip_and_include_are_evaluated_with_the_request_values(
    supergraph: Supergraph,
) -> None:
    query = "query ($r: Boolean!) { topProducts { name reviews @include(if: $r) { body } } }"
    with_reviews = plan(supergraph, query, {"r": True})
    without = plan(supergraph, query, {"r": False})
    assert len(list(fetches(with_reviews.node))) == 2
    assert len(list(fetches(without.node))) == 1
    assert "@include" not in next(fetches(with_reviews.node)).operation


def test_fragments_and_aliases_reach_subgraph_queries(supergraph: Supergraph) -> None:
    query_plan = plan(
        supergraph,
        """
        { top: topProducts { ...P ... on Product { cost: price } } }
        fragment P on Product { title: name reviews { body } }
        """,
    )
    root = next(fetches(query_plan.node))
    assert "top: topProducts" in root.operation
    assert "title: name" in root.operation and "cost: price" in root.operation
    assert_valid_for_subgraphs(supergraph, query_plan)


def test_an_alias_named_like_a_key_field_gets_an_internal_alias(
    supergraph: Supergraph,
) -> None:
    query_plan = plan(supergraph, "{ topProducts { upc: name reviews { body } } }")
    root = next(fetches(query_plan.node))
    assert "_upc__name: name" in root.operation
    [field] = query_plan.shape.fields_by_type["Query"][0].selection.fields_by_type[  # type: ignore[union-attr]
        "Product"
    ][:1]
    assert (field.response_key, field.data_key) == ("upc", "_upc__name")
    assert_valid_for_subgraphs(supergraph, query_plan)


def test_mutation_fields_run_in_order_each_with_its_follow_ups() -> None:
    folder = Path(__file__).parent / "scenarios" / "mutation_sequence"
    sdl = {
        n: (folder / f"{n}.graphql").read_text()
        for n in ("orders", "ledger", "shipping")
    }
    graph = build_supergraph(sdl)
    query_plan = plan(
        graph,
        'mutation { a: placeOrder(item: "x") { label } b: record(entry: "y") { log } '
        'c: placeOrder(item: "z") { id } }',
    )
    node = query_plan.node
    assert isinstance(node, Sequence) and len(node.nodes) == 3
    first, second, third = node.nodes
    assert isinstance(first, Sequence)
    assert [f.subgraph for f in fetches(first)] == ["orders", "shipping"]
    assert isinstance(second, Fetch) and second.subgraph == "ledger"
    assert isinstance(third, Fetch) and third.operation_kind == "mutation"


def test_introspection_is_answered_locally(supergraph: Supergraph) -> None:
    query_plan = plan(supergraph, "{ __typename __schema { queryType { name } } }")
    assert query_plan.node is None
    assert query_plan.introspection is not None


def test_subscription_plan_has_a_primary_and_the_rest() -> None:
    graph = build_supergraph(
        {
            "live": "type Query { ok: Boolean } type Subscription { "
            'priceChanged: Product } type Product @key(fields: "upc") { upc: String! }',
            "products": 'type Product @key(fields: "upc") { upc: String! name: String }',
        }
    )
    query_plan = plan(graph, "subscription { priceChanged { name } }")
    assert isinstance(query_plan.node, Subscription)
    assert query_plan.node.primary.subgraph == "live"
    assert query_plan.node.primary.operation.startswith("subscription")
    assert isinstance(query_plan.node.rest, Flatten)
    assert query_plan.node.rest.node.subgraph == "products"


def test_a_field_no_subgraph_can_reach_is_a_planning_error() -> None:
    graph = build_supergraph(
        {
            "a": "type Query { things: [Thing] } type Thing { id: ID! }",
            "b": 'type Thing @key(fields: "sku") { sku: ID! extra: String }',
        }
    )
    assert plan(graph, "{ things { id } }").node is not None
    with pytest.raises(PlanningError, match=r"Thing\.extra"):
        plan(graph, "{ things { extra } }")  # a cannot send the key b needs


def test_printed_plan_reads_like_apollo_query_plans(supergraph: Supergraph) -> None:
    text = print_plan(plan(supergraph, "{ topProducts { reviews { body } } }"))
    assert text.startswith('QueryPlan {\n  Sequence {\n    Fetch(service: "products")')
    assert 'Flatten(path: "topProducts.@")' in text
    assert "} =>\n" in text


def test_caching_planner_plans_a_repeated_operation_once(
    supergraph: Supergraph,
) -> None:
    planner = CachingQueryPlanner(supergraph)
    op = operation(supergraph, "{ topProducts { name } }")
    assert planner.plan(op) is planner.plan(op)
    assert planner.plan_count == 1


def test_caching_planner_keys_on_skip_include_values(supergraph: Supergraph) -> None:
    planner = CachingQueryPlanner(supergraph)
    op = operation(
        supergraph, "query ($r: Boolean!) { topProducts { name @include(if: $r) } }"
    )
    assert planner.plan(op, {"r": True}) is not planner.plan(op, {"r": False})
    assert planner.plan(op, {"r": True}) is planner.plan(op, {"r": True})
    assert planner.plan_count == 2


@pytest.mark.parametrize(
    ("query", "passthrough"),
    [
        ("{ topProducts { name price } }", True),
        ('{ a: topProducts { n: name } b: product(upc: "1") { upc } }', True),
        ("{ topProducts { name reviews { body } } }", False),  # keys are added
        ("{ topProducts { upc: name } }", False),  # internal alias
        ("{ __typename topProducts { name } }", False),
        ("{ me { name } topProducts { name } }", False),  # two fetches
    ],
)
def test_a_plan_is_passthrough_only_when_the_subgraph_answer_is_the_response(
    supergraph: Supergraph, query: str, passthrough: bool
) -> None:
    assert plan(supergraph, query).passthrough is passthrough


def test_a_key_the_parent_lacks_is_fetched_through_a_subgraph_that_has_both() -> None:
    graph = build_supergraph(
        {
            "a": 'type Query { things: [Thing] } type Thing @key(fields: "id") '
            "{ id: ID! }",
            "b": 'type Thing @key(fields: "id") @key(fields: "sku") { id: ID! sku: ID! }',
            "c": 'type Thing @key(fields: "sku") { sku: ID! extra: String }',
        }
    )
    query_plan = plan(graph, "{ things { extra } }")
    assert [f.subgraph for f in fetches(query_plan.node)] == ["a", "b", "c"]
    *_, to_c = fetches(query_plan.node)
    assert [f.name for f in to_c.representation["Thing"]] == ["__typename", "sku"]
    assert_valid_for_subgraphs(graph, query_plan)


def test_a_planning_error_is_cached_too() -> None:
    graph = build_supergraph(
        {
            "a": "type Query { things: [Thing] } type Thing { id: ID! }",
            "b": 'type Thing @key(fields: "sku") { sku: ID! extra: String }',
        }
    )
    planner = CachingQueryPlanner(graph)
    op = operation(graph, "{ things { extra } }")
    for _ in range(2):
        with pytest.raises(PlanningError):
            planner.plan(op)
    assert planner.plan_count == 1


def test_a_client_field_with_arguments_is_kept_apart_from_the_same_field_required() -> (
    None
):
    graph = build_supergraph(
        {
            "a": 'type Query { items: [Item] } type Item @key(fields: "id") '
            "{ id: ID! price(currency: String): Int }",
            "b": 'type Item @key(fields: "id") { id: ID! price(currency: String): Int '
            '@external tax: Int @requires(fields: "price") }',
        }
    )
    query_plan = plan(graph, '{ items { price(currency: "EUR") tax } }')
    root = next(fetches(query_plan.node))
    assert root.operation == (
        'query { items { _price__price: price(currency: "EUR") __typename id price } }'
    )
    assert_valid_for_subgraphs(graph, query_plan)


def test_subgraph_operation_names_are_valid_graphql_names() -> None:
    graph = build_supergraph({"my-products": "type Query { n: Int }"})
    query_plan = QueryPlanner(graph).plan(operation(graph, "query Count { n }"))
    assert isinstance(query_plan.node, Fetch)
    assert query_plan.node.operation_name == "Count__my_products__0"
    assert query_plan.node.operation == "query Count__my_products__0 { n }"


# -- the query graph and path finding ----------------------------------------------------


def composed(sdl: dict[str, str]) -> Supergraph:
    from gateway.composition import compose

    header = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", "@shareable", "@external", "@requires", "@provides"])\n'
    )
    return compose([(name, header + text) for name, text in sdl.items()])


def test_field_edges_carry_each_subgraphs_own_type_for_the_field() -> None:
    from gateway.planner import QueryGraph

    graph = QueryGraph(
        composed(
            {
                "a": "type Query { media: Book @shareable } "
                "type Book { title: String @shareable }",
                "b": "type Query { media: Media @shareable } union Media = Book | Film "
                "type Book { title: String @shareable } type Film { year: Int }",
            }
        )
    )
    assert graph.field("Query", "a", "media").target == "Book"  # type: ignore[union-attr]
    assert graph.field("Query", "b", "media").target == "Media"  # type: ignore[union-attr]
    assert graph.possible_types("b", "Media") == {"Book", "Film"}
    assert graph.possible_types("a", "Book") == {"Book"}


def test_abstract_edges_exist_only_where_the_type_condition_is_valid() -> None:
    from gateway.planner import QueryGraph

    graph = QueryGraph(
        composed(
            {
                "a": "type Query { all: [Node] } interface Node { id: ID! } "
                'type Toaster implements Node @key(fields: "id") { id: ID! } '
                'type Oven @key(fields: "id") { id: ID! }',
                "b": "interface Node { id: ID! } "
                'type Oven implements Node @key(fields: "id") { id: ID! watts: Int }',
            }
        )
    )
    assert graph.possible_types("a", "Node") == {"Toaster"}
    assert graph.possible_types("b", "Node") == {"Oven"}


def test_key_edges_lead_into_every_subgraph_with_a_resolvable_key() -> None:
    from gateway.planner import QueryGraph

    graph = QueryGraph(
        composed(
            {
                "a": 'type Query { t: T } type T @key(fields: "id") { id: ID! }',
                "b": 'type T @key(fields: "id") { id: ID! x: Int }',
                "c": 'type T @key(fields: "id", resolvable: false) { id: ID! }',
            }
        )
    )
    assert sorted(edge.subgraph for edge in graph.keys("T")) == ["a", "b"]


def test_a_shareable_root_field_is_chosen_by_plan_cost_not_by_order() -> None:
    graph = composed(
        {
            "first": "type Query { things: [Thing] @shareable } "
            'type Thing @key(fields: "id") { id: ID! }',
            "second": "type Query { things: [Thing] @shareable } "
            'type Thing @key(fields: "id") { id: ID! name: String }',
        }
    )
    query_plan = plan(graph, "{ things { name } }")
    assert [f.subgraph for f in fetches(query_plan.node)] == ["second"]


def test_the_cheapest_path_takes_fewer_fetches_over_declaration_order() -> None:
    graph = composed(
        {
            "a": 'type Query { t: T } type T @key(fields: "id") { id: ID! }',
            "b": 'type T @key(fields: "id") @key(fields: "sku") { id: ID! sku: ID! }',
            "c": 'type T @key(fields: "sku") @key(fields: "id") { id: ID! sku: ID! '
            "x: Int @shareable }",
            "d": 'type T @key(fields: "sku") { sku: ID! x: Int @shareable }',
        }
    )
    query_plan = plan(graph, "{ t { x } }")
    assert [f.subgraph for f in fetches(query_plan.node)] == ["a", "c"]


def test_requires_is_honoured_in_the_subgraph_already_queried() -> None:
    graph = composed(
        {
            "a": 'type Query { t: [T] } type T @key(fields: "id") { id: ID! '
            'w: Int @external cost: Int @requires(fields: "w") }',
            "b": 'type T @key(fields: "id") { id: ID! w: Int }',
        }
    )
    query_plan = plan(graph, "{ t { cost } }")
    assert [f.subgraph for f in fetches(query_plan.node)] == ["a", "b", "a"]
    *_, last = fetches(query_plan.node)
    assert [f.name for f in last.representation["T"]] == ["__typename", "id", "w"]
    assert_valid_for_subgraphs(graph, query_plan)


def test_an_unplannable_selection_is_a_planning_error_with_a_code() -> None:
    graph = composed(
        {
            "a": "type Query { find: E @shareable } interface E { id: ID! } "
            'type P implements E @key(fields: "id") { id: ID! } '
            'type R implements E @key(fields: "id") { id: ID! @external }',
            "b": "type Query { find: E @shareable } interface E { id: ID! } "
            'type P implements E @key(fields: "id") { id: ID! @external } '
            'type R implements E @key(fields: "id") { id: ID! }',
        }
    )
    with pytest.raises(PlanningError) as caught:
        plan(graph, "{ find { id } }")
    assert caught.value.code == "QUERY_PLANNING_FAILED"


def test_plan_json_has_apollo_node_kinds(supergraph: Supergraph) -> None:
    from gateway.planner import plan_to_json

    data = plan_to_json(plan(supergraph, "{ topProducts { reviews { body } } }"))
    assert data["node"]["kind"] == "Sequence"
    assert [n["kind"] for n in data["node"]["nodes"]] == ["Fetch", "Flatten"]
    assert data["node"]["nodes"][1]["path"] == ["topProducts", "@"]


def test_mutation_fields_keep_their_order_when_a_step_waits_for_two_others() -> None:
    graph = composed(
        {
            "a": "type Query { ok: Boolean } type Mutation { first: T second: T } "
            'type T @key(fields: "id") { id: ID! }',
            "b": 'type T @key(fields: "id") { id: ID! x: Int }',
            "c": 'type T @key(fields: "id") { id: ID! y: Int }',
            "d": 'type T @key(fields: "id") { id: ID! x: Int @external y: Int @external '
            'sum: Int @requires(fields: "x y") }',
        }
    )
    query_plan = plan(graph, "mutation { first { sum } second { sum } }")
    assert isinstance(query_plan.node, Sequence)
    first, second = query_plan.node.nodes
    assert next(f.subgraph for f in fetches(first)) == "a"
    assert next(f.subgraph for f in fetches(second)) == "a"
    assert sorted(f.subgraph for f in fetches(first)) == ["a", "b", "c", "d"]
    assert_valid_for_subgraphs(graph, query_plan)


class _FailingPlanner(QueryPlanner):
    def plan(self, operation: Operation, variables: Any = None) -> QueryPlan:
        self.plan_count += 1
        raise PlanningError("no subgraph resolves Query.nothing")


def test_a_planning_error_is_cached_as_its_payload_and_raised_afresh(
    supergraph: Supergraph,
) -> None:
    planner = CachingQueryPlanner(supergraph)
    planner.planner = _FailingPlanner(supergraph)
    op = operation(supergraph, "{ topProducts { name } }")
    raised = []
    for _ in range(3):
        with pytest.raises(PlanningError, match=r"Query\.nothing") as caught:
            planner.plan(op)
        raised.append(caught.value)
    assert planner.plan_count == 1
    assert raised[0] is not raised[1] is not raised[2]
    [entry] = [value for value, _ in planner.entries._entries.values()]
    assert not isinstance(entry, BaseException)


def test_the_plan_cache_is_bounded_by_bytes(supergraph: Supergraph) -> None:
    planner = CachingQueryPlanner(supergraph, max_bytes=64 * 1024)
    for first in range(1, 40):
        op = operation(supergraph, f"{{ topProducts(first: {first}) {{ name }} }}")
        planner.plan(op)
    assert planner.entries.bytes <= 64 * 1024
    assert len(planner.entries) < 39
