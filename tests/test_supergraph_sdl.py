"""Tests for gateway.composition.supergraph_sdl and the supergraph SDL inputs
(``gateway serve --supergraph FILE``, ``supergraph:`` in supergraph.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import print_ast

from gateway.cli import main
from gateway.composition import compose
from gateway.composition.supergraph_sdl import extract_subgraphs, load_supergraph
from gateway.config import load_config, load_supergraph_config
from gateway.errors import CompositionError, ConfigError

JOIN = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{ query: Query }

directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE
directive @join__field(graph: join__Graph, requires: join__FieldSet,
  provides: join__FieldSet, type: String, external: Boolean, override: String,
  usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!)
  repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet,
  extension: Boolean! = false, resolvable: Boolean! = true,
  isInterfaceObject: Boolean! = false)
  repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!)
  repeatable on UNION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
  | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT
  | INPUT_FIELD_DEFINITION
directive @link(url: String, as: String, for: link__Purpose,
  import: [link__Import]) repeatable on SCHEMA
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
"""

SUPERGRAPH = (
    JOIN
    + """
enum join__Graph {
  CATALOG @join__graph(name: "catalog", url: "http://127.0.0.1:4001/graphql")
  LIBRARY @join__graph(name: "library", url: "http://127.0.0.1:4002/graphql")
  PRICES @join__graph(name: "prices", url: "http://127.0.0.1:4003/graphql")
}

type Query @join__type(graph: CATALOG) @join__type(graph: LIBRARY) {
  featured: Media @join__field(graph: CATALOG, type: "Media")
    @join__field(graph: LIBRARY, type: "Book")
  shelf: [Book] @join__field(graph: LIBRARY, provides: "title")
}

union Media @join__type(graph: CATALOG)
  @join__unionMember(graph: CATALOG, member: "Book")
  @join__unionMember(graph: CATALOG, member: "Film") = Book | Film

interface Item @join__type(graph: CATALOG) @join__type(graph: PRICES,
  key: "id", isInterfaceObject: true) {
  id: ID!
  price(currency: String!): Float @join__field(graph: PRICES)
}

type Book implements Item @join__implements(graph: CATALOG, interface: "Item")
  @join__type(graph: CATALOG, key: "id")
  @join__type(graph: LIBRARY, key: "id", extension: true)
{
  id: ID!
  title: String @join__field(graph: CATALOG) @join__field(graph: LIBRARY, external: true)
  pages: Int @join__field(graph: LIBRARY, override: "catalog")
    @join__field(graph: CATALOG, usedOverridden: true)
  weight(unit: String!): Float @join__field(graph: CATALOG)
    @join__field(graph: LIBRARY, external: true)
  tax: Float @join__field(graph: LIBRARY, requires: "weight(unit: \\"kg\\")")
  price(currency: String!): Float @join__field
  secret: String @join__field(graph: CATALOG) @inaccessible
}

type Film implements Item @join__implements(graph: CATALOG, interface: "Item")
  @join__type(graph: CATALOG, key: "id")
{
  id: ID!
  genre: Genre
  price(currency: String!): Float @join__field
}

enum Genre @join__type(graph: CATALOG) {
  DRAMA @join__enumValue(graph: CATALOG)
  HIDDEN @join__enumValue(graph: CATALOG) @inaccessible
}
"""
)


def test_subgraphs_come_back_with_their_names_urls_and_join_facts() -> None:
    extracted = {s.name: s for s in extract_subgraphs(SUPERGRAPH)}
    assert list(extracted) == ["catalog", "library", "prices"]
    assert extracted["library"].url == "http://127.0.0.1:4002/graphql"
    library = extracted["library"].sdl
    assert "featured: Book" in library
    assert 'shelf: [Book] @shareable @provides(fields: "title")' in library
    assert 'extend type Book @key(fields: "id")' in library
    assert "title: String @external" in library
    assert 'pages: Int @shareable @override(from: "catalog")' in library
    catalog = extracted["catalog"].sdl
    assert "union Media = Book | Film" in catalog
    assert 'type Book implements Item @key(fields: "id")' in catalog
    assert "pages: Int @external" in catalog
    assert "secret: String @shareable @inaccessible" in catalog
    assert "HIDDEN @inaccessible" in catalog
    prices = extracted["prices"].sdl
    assert 'type Item @key(fields: "id") @interfaceObject' in prices
    assert "price" not in catalog.split("type Book", 1)[1].split("}", 1)[0]


def test_a_supergraph_composes_to_its_own_client_schema_and_ownership() -> None:
    supergraph = load_supergraph(SUPERGRAPH)
    sdl = supergraph.sdl
    assert "secret" not in sdl and "HIDDEN" not in sdl and "join__" not in sdl
    featured = supergraph.field("Query", "featured")
    assert featured is not None and featured.type == "Media"
    assert {s.subgraph: s.type for s in featured.sources} == {
        "catalog": "Media",
        "library": "Book",
    }
    pages = supergraph.field("Book", "pages")
    assert pages is not None and [s.subgraph for s in pages.sources] == ["library"]
    tax = supergraph.field("Book", "tax")
    assert tax is not None and tax.sources[0].requires is not None
    assert " ".join(print_ast(tax.sources[0].requires).split()) == (
        '{ weight(unit: "kg") }'
    )
    price = supergraph.field("Film", "price")
    assert price is not None and [s.subgraph for s in price.sources] == ["prices"]
    assert supergraph.type("Item").interface_object_in == {"prices"}


def test_a_renamed_join_spec_is_followed() -> None:
    renamed = SUPERGRAPH.replace("join__", "j__").replace(
        '@link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)',
        '@link(url: "https://specs.apollo.dev/join/v0.5", as: "j", for: EXECUTION)',
    )
    assert load_supergraph(renamed).sdl == load_supergraph(SUPERGRAPH).sdl


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type Query {", "supergraph SDL: line 1"),
        ("type Query { a: Int }", "not a supergraph SDL"),
        (JOIN + "enum join__Graph { A }", "join__Graph.A has no @join__graph"),
    ],
)
def test_what_is_not_a_supergraph_is_an_invalid_supergraph_error(
    text: str, message: str
) -> None:
    with pytest.raises(CompositionError) as caught:
        extract_subgraphs(text)
    assert [i.code for i in caught.value.issues] == ["INVALID_SUPERGRAPH"]
    assert message in caught.value.issues[0].message


# --- The inputs: --supergraph and supergraph: ------------------------------------------


def write_supergraph(tmp_path: Path) -> Path:
    file = tmp_path / "supergraph.graphql"
    file.write_text(SUPERGRAPH)
    return file


def test_supergraph_file_configures_one_remote_subgraph_per_graph(
    tmp_path: Path,
) -> None:
    config = load_supergraph_config(write_supergraph(tmp_path))
    assert [(s.name, s.routing_url) for s in config.subgraphs] == [
        ("catalog", "http://127.0.0.1:4001/graphql"),
        ("library", "http://127.0.0.1:4002/graphql"),
        ("prices", "http://127.0.0.1:4003/graphql"),
    ]
    assert all(s.sdl for s in config.subgraphs)


def test_supergraph_key_in_yaml_with_an_entry_that_changes_how_one_is_reached(
    tmp_path: Path,
) -> None:
    write_supergraph(tmp_path)
    yaml_file = tmp_path / "supergraph.yaml"
    yaml_file.write_text(
        "supergraph: supergraph.graphql\n"
        "subgraphs:\n"
        "  - name: prices\n"
        "    routing_url: http://127.0.0.1:5000/graphql\n"
        "    timeout: 2s\n"
    )
    config = load_config(yaml_file)
    prices = config.subgraphs[2]
    assert (prices.name, prices.routing_url, prices.timeout) == (
        "prices",
        "http://127.0.0.1:5000/graphql",
        2.0,
    )
    assert (
        prices.sdl
        == load_supergraph_config(tmp_path / "supergraph.graphql").subgraphs[2].sdl
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  - name: price\n    routing_url: http://127.0.0.1:1/graphql\n",
            "no subgraph 'price'",
        ),
        (
            "  - name: prices\n    routing_url: http://127.0.0.1:1/graphql\n"
            "    schema:\n      file: supergraph.graphql\n",
            "the schema comes from the supergraph",
        ),
    ],
)
def test_a_subgraph_entry_beside_a_supergraph_must_name_one_and_not_its_schema(
    tmp_path: Path, entry: str, message: str
) -> None:
    write_supergraph(tmp_path)
    yaml_file = tmp_path / "supergraph.yaml"
    yaml_file.write_text("supergraph: supergraph.graphql\nsubgraphs:\n" + entry)
    with pytest.raises(ConfigError) as caught:
        load_config(yaml_file)
    assert message in str(caught.value)
    assert caught.value.line == 3


def test_a_missing_or_wrong_supergraph_file_is_a_config_error(tmp_path: Path) -> None:
    yaml_file = tmp_path / "supergraph.yaml"
    yaml_file.write_text("supergraph: nowhere.graphql\n")
    with pytest.raises(ConfigError, match="supergraph file not found"):
        load_config(yaml_file)
    (tmp_path / "plain.graphql").write_text("type Query { a: Int }")
    yaml_file.write_text("supergraph:\n  file: plain.graphql\n")
    with pytest.raises(ConfigError, match="not a supergraph SDL"):
        load_config(yaml_file)


def test_compose_prints_the_same_schema_from_a_supergraph_as_from_its_subgraphs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_supergraph(tmp_path)
    assert main(["compose", "--supergraph", str(file)]) == 0
    printed = capsys.readouterr().out
    subgraphs = [(s.name, s.sdl) for s in extract_subgraphs(SUPERGRAPH)]
    assert printed == compose(subgraphs).sdl
    assert "featured: Media" in printed


def test_compose_with_a_bad_supergraph_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "bad.graphql"
    file.write_text("type Query { a: Int }")
    assert main(["compose", "--supergraph", str(file)]) == 1
    assert "not a supergraph SDL" in capsys.readouterr().err
