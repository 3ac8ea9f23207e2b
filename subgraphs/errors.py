"""``SubgraphError``: the one error convention of the bundled subgraphs.

Each subgraph's ``errors.py`` declares its errors as subclasses, one ``code`` each,
and documents them as a tree in its docstring. They are GraphQL errors, so a
resolver raises them as they are and graphql-core reports them at the field's path
with ``extensions.code`` (and any extra extensions given). Messages are written for
the client: the paths it sent, never server paths or foreign exception text.
"""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import GraphQLError

__all__ = ["SubgraphError"]


class SubgraphError(GraphQLError):
    """A GraphQL error whose ``extensions.code`` is the class's ``code``."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})
