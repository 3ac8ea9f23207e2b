"""Enum-typed variables work on the claude schema (ariadne's enum repair undone)."""

from __future__ import annotations

from graphql import graphql

from subgraphs.claude.schema import make_schema


async def test_an_enum_variable_is_coerced_not_crashed() -> None:
    schema = make_schema()
    query = "query($s: SessionStatus) { sessions(status: $s) { id } }"
    good = await graphql(schema, query, variable_values={"s": "IDLE"}, context_value={})
    assert good.errors is not None
    # It got past variable coercion: the error is about the missing context.
    assert "Variable" not in good.errors[0].message
    bad = await graphql(schema, query, variable_values={"s": "NOPE"}, context_value={})
    assert bad.errors is not None
    assert "does not exist in 'SessionStatus'" in bad.errors[0].message


async def test_introspection_enum_arguments_still_work() -> None:
    schema = make_schema()
    result = await graphql(
        schema, '{ __type(name: "SessionStatus") { enumValues { name } } }'
    )
    assert result.errors is None
    assert result.data is not None
    names = {v["name"] for v in result.data["__type"]["enumValues"]}
    assert "IDLE" in names
