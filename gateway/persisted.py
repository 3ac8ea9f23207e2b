"""Persisted documents: automatic persisted queries (APQ) and trusted documents.

APQ is Apollo's protocol: a request carries ``extensions.persistedQuery`` ``{version:
1, sha256Hash}``; without its ``query`` the document comes from the store, and an
unknown hash gets ``PERSISTED_QUERY_NOT_FOUND`` (the client then sends the hash and
the document together, which registers it after the hash is checked:
``PERSISTED_QUERY_HASH_MISMATCH`` when it does not match). The store is bounded by
bytes (least recently used documents go first).

Trusted documents (Cosmo's persisted operations, Apollo's persisted query manifests,
Relay's and GraphQL Codegen's persisted documents) are read from config at start-up:
a JSON manifest or a directory, hash -> document. With ``block_non_persisted`` only
those run: a document sent in full must be one of them (``PERSISTED_QUERY_NOT_IN_LIST``)
and APQ registers nothing new.

See https://github.com/apollographql/apollo-link-persisted-queries#apollo-engine and
https://cosmo-docs.wundergraph.com/router/persisted-queries
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from gateway.errors import (
    BadRequestError,
    ConfigError,
    OperationError,
    PersistedQueryNotFoundError,
)
from gateway.operation import GraphQLRequest

__all__ = [
    "PERSISTED_QUERY_VERSION",
    "DocumentStore",
    "PersistedDocuments",
    "load_manifest",
    "sha256_hex",
]

logger = logging.getLogger("gateway.persisted")

PERSISTED_QUERY_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def sha256_hex(document: str) -> str:
    """The APQ hash of ``document``: SHA-256 of its UTF-8 text, lowercase hex."""
    return hashlib.sha256(document.encode()).hexdigest()


class DocumentStore:
    """APQ's store: hash -> document, at most ``max_bytes`` of documents (LRU)."""

    __slots__ = ("_documents", "bytes", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self.bytes = 0
        self._documents: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
        return document

    def put(self, key: str, document: str) -> None:
        size = len(document.encode()) + len(key)
        if size > self.max_bytes:
            return  # would evict everything else and still not fit
        old = self._documents.pop(key, None)
        if old is not None:
            self.bytes -= len(old.encode()) + len(key)
        self._documents[key] = document
        self.bytes += size
        while self.bytes > self.max_bytes:
            gone_key, gone = self._documents.popitem(last=False)
            self.bytes -= len(gone.encode()) + len(gone_key)

    def __len__(self) -> int:
        return len(self._documents)


def _manifest_entries(data: Any, source: str) -> dict[str, str]:
    """hash -> document from a manifest's JSON: Apollo's persisted query manifest
    (``{"operations": [{"id", "body"}]}``), Cosmo's operation file (``{"body"}``,
    keyed by its file name) or a flat ``{hash: document}`` object."""
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        out: dict[str, str] = {}
        for entry in data["operations"]:
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("id"), str)
                and isinstance(entry.get("body"), str)
            ):
                raise ConfigError(f"{source}: each operation needs 'id' and 'body'")
            out[entry["id"]] = entry["body"]
        return out
    if isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        return dict(data)
    raise ConfigError(
        f"{source}: expected {{hash: document}} or an Apollo persisted query "
        "manifest ({'operations': [{'id', 'body'}]})"
    )


def load_manifest(path: Path) -> dict[str, str]:
    """Trusted documents from ``path``: a JSON manifest, or a directory (searched
    recursively, as Cosmo's per-client folders) of ``<hash>.graphql`` files and
    Cosmo's ``<hash>.json`` files (``{"version": 1, "body": ...}``)."""
    if not path.exists():
        raise ConfigError(f"persisted operations: {path} does not exist")
    if path.is_file():
        try:
            return _manifest_entries(orjson.loads(path.read_bytes()), str(path))
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    out: dict[str, str] = {}
    for file in sorted(path.rglob("*")):
        if file.suffix in (".graphql", ".gql"):
            out[file.stem] = file.read_text()
        elif file.suffix == ".json":
            try:
                data = orjson.loads(file.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{file}: not valid JSON: {exc}") from None
            if isinstance(data, dict) and isinstance(data.get("body"), str):
                out[file.stem] = data["body"]
            else:
                out.update(_manifest_entries(data, str(file)))
    return out


@dataclasses.dataclass(slots=True)
class PersistedDocuments:
    """Where a request's document comes from: its text, APQ's store or the trusted
    documents; ``resolve`` answers a request that has its ``query``."""

    trusted: Mapping[str, str] = dataclasses.field(default_factory=dict)
    apq: DocumentStore | None = None
    """None: APQ is off (``PERSISTED_QUERY_NOT_SUPPORTED``)."""
    block_non_persisted: bool = False

    _trusted_hashes: frozenset[str] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._trusted_hashes = frozenset(
            sha256_hex(document) for document in self.trusted.values()
        )

    def resolve(self, request: GraphQLRequest) -> GraphQLRequest:
        """``request`` with its document, or a ``RequestError`` saying why not."""
        extensions = request.extensions or {}
        persisted = extensions.get("persistedQuery")
        if persisted is None:
            if request.query is None:
                raise BadRequestError("the request has no 'query'")
            if self.block_non_persisted and not self._is_trusted(request.query):
                raise OperationError(
                    "only persisted operations may run on this gateway; "
                    "send the operation's hash in extensions.persistedQuery",
                    code="PERSISTED_QUERY_NOT_IN_LIST",
                )
            return request
        key = self._key(persisted)
        if request.query is None:
            document = self.trusted.get(key)
            if document is None and self.apq is not None:
                document = self.apq.get(key.lower())
            if document is None:
                if self.apq is None and not self.trusted:
                    raise OperationError(
                        "PersistedQueryNotSupported",
                        code="PERSISTED_QUERY_NOT_SUPPORTED",
                    )
                raise PersistedQueryNotFoundError("PersistedQueryNotFound")
            return dataclasses.replace(request, query=document)
        # The document and its hash: APQ's registration.
        if key in self.trusted:
            return request if request.query == self.trusted[key] else self._mismatch()
        if not _SHA256.match(key) or sha256_hex(request.query) != key.lower():
            self._mismatch()
        if self.block_non_persisted and not self._is_trusted(request.query):
            raise OperationError(
                "only persisted operations may run on this gateway; "
                "this document is not one of them",
                code="PERSISTED_QUERY_NOT_IN_LIST",
            )
        if self.apq is not None:
            self.apq.put(key.lower(), request.query)
        return request

    def _is_trusted(self, document: str) -> bool:
        return sha256_hex(document) in self._trusted_hashes

    @staticmethod
    def _key(persisted: Any) -> str:
        if not isinstance(persisted, Mapping):
            raise BadRequestError("'extensions.persistedQuery' must be an object")
        version = persisted.get("version")
        if version != PERSISTED_QUERY_VERSION:
            raise BadRequestError(
                f"unsupported persisted query version {version!r}; "
                f"supported: {PERSISTED_QUERY_VERSION}",
                code="PERSISTED_QUERY_UNSUPPORTED_VERSION",
            )
        key = persisted.get("sha256Hash")
        if not isinstance(key, str) or not key:
            raise BadRequestError(
                "'extensions.persistedQuery.sha256Hash' must be a non-empty string"
            )
        return key

    @staticmethod
    def _mismatch() -> Any:
        raise BadRequestError(
            "provided sha256Hash does not match the query",
            code="PERSISTED_QUERY_HASH_MISMATCH",
        )
