"""Hot reload: watch supergraph.yaml and its SDL files, rebuild, swap, keep streams.

* ``SubgraphPool`` keeps in-process subgraphs started across reloads: a subgraph
  whose entry (name, module, options) is unchanged keeps its instance and its
  lifespan; a new one is started before the swap; a removed one is stopped after it.
* ``LiveStreams`` knows every open subscription: which document it runs and which
  subgraphs its plan reaches. After a swap, a stream whose fields still validate and
  whose subgraphs are unchanged keeps streaming (on the engine it started on); the
  others get one error event with code ``SCHEMA_RELOADED`` and then complete.
* ``Reloader`` runs one reload at a time (a request during a reload runs once
  after it): load the file, build the new generation, hand it to ``apply``. A
  failure keeps the old generation and is kept in ``last_error`` (every
  composition error, one a line) for ``/health/ready``.
* ``watch_files`` yields when one of the files changes (the ``watchfiles`` library;
  directories are watched, so editors that replace a file are seen).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLSchema, validate

from gateway.config import (
    Config,
    SubgraphConfig,
    load_config,
    load_supergraph_config,
)
from gateway.errors import CompositionError, ConfigError, GatewayError
from gateway.events import StreamEvent
from gateway.local import LocalSubgraph, load_local_subgraph
from gateway.planner.nodes import (
    Fetch,
    Flatten,
    Parallel,
    PlanNode,
    Sequence,
    Subscription,
)
from gateway.startup import inherited_settings

__all__ = [
    "SCHEMA_RELOADED",
    "LiveStreams",
    "ReloadStatus",
    "Reloader",
    "SubgraphPool",
    "all_subgraphs",
    "config_files",
    "plan_services",
    "same_subgraph",
    "watch_files",
]

logger = logging.getLogger("gateway.reload")

SCHEMA_RELOADED = "SCHEMA_RELOADED"
_SDL_SUFFIXES = (".graphql", ".graphqls", ".gql")


# -- in-process subgraphs across reloads ---------------------------------------------


def _pool_key(
    subgraph: SubgraphConfig, inherited: Mapping[str, Any]
) -> tuple[str, str, bytes]:
    """What identifies a started subgraph: its name, module, options and the
    gateway settings it inherits (``gateway.roots``)."""
    assert subgraph.module is not None
    options = orjson.dumps(
        [dict(subgraph.options), dict(inherited)],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return (subgraph.name, subgraph.module, options)


class SubgraphPool:
    """Started in-process subgraphs, by (name, module, options)."""

    def __init__(self) -> None:
        self._started: dict[
            tuple[str, str, bytes], tuple[LocalSubgraph, AsyncExitStack]
        ] = {}

    async def acquire(self, config: Config) -> dict[str, LocalSubgraph]:
        """The in-process subgraphs of ``config``, started (new ones now)."""
        locals_: dict[str, LocalSubgraph] = {}
        inherited = inherited_settings(config)
        for subgraph in config.subgraphs:
            if subgraph.module is None:
                continue
            key = _pool_key(subgraph, inherited)
            entry = self._started.get(key)
            if entry is None:
                try:
                    local = load_local_subgraph(
                        subgraph.module, subgraph.options, inherited=inherited
                    )
                except ConfigError as exc:
                    raise ConfigError(
                        exc.reason,
                        file=str(config.path) if config.path else None,
                        line=subgraph.line,
                        key_path=f"subgraphs.{subgraph.name}.module",
                    ) from exc
                stack = AsyncExitStack()
                if local.lifespan is not None:
                    logger.debug("starting in-process subgraph %s", subgraph.name)
                    await stack.enter_async_context(local.lifespan())
                entry = self._started[key] = (local, stack)
            locals_[subgraph.name] = entry[0]
        return locals_

    async def release_except(self, config: Config) -> None:
        """Stop the subgraphs ``config`` does not name (any more)."""
        inherited = inherited_settings(config)
        keep = {
            _pool_key(s, inherited)
            for s in all_subgraphs(config)
            if s.module is not None
        }
        for key in [k for k in self._started if k not in keep]:
            _, stack = self._started.pop(key)
            logger.info(
                "stopping in-process subgraph %s (no longer configured)", key[0]
            )
            try:
                await stack.aclose()
            except Exception:
                logger.exception("stopping in-process subgraph %s failed", key[0])

    async def close(self) -> None:
        while self._started:
            _, (_, stack) = self._started.popitem()
            await stack.aclose()


def all_subgraphs(config: Config) -> list[SubgraphConfig]:
    """The base subgraphs and every feature flag's feature subgraphs."""
    return [*config.subgraphs, *(s for f in config.feature_flags for s in f.subgraphs)]


def same_subgraph(old: SubgraphConfig, new: SubgraphConfig) -> bool:
    """Whether a stream open on ``old`` can go on after a reload to ``new``: the
    same entry, whatever its SDL text (fields are checked by validation) or line."""
    return dataclasses.replace(old, sdl=None, line=None) == dataclasses.replace(
        new, sdl=None, line=None
    )


# -- open streams ------------------------------------------------------------------------


def plan_services(node: PlanNode | None) -> frozenset[str]:
    """Every subgraph a plan fetches from."""
    if node is None:
        return frozenset()
    if isinstance(node, Fetch):
        return frozenset({node.subgraph})
    if isinstance(node, Flatten):
        return plan_services(node.node)
    if isinstance(node, Subscription):
        return plan_services(node.primary) | plan_services(node.rest)
    if isinstance(node, Sequence | Parallel):
        found: frozenset[str] = frozenset()
        for child in node.nodes:
            found |= plan_services(child)
        return found
    return frozenset()


@dataclass(eq=False, slots=True)
class _Live:
    document: DocumentNode
    services: frozenset[str]
    graph: str | None
    task: asyncio.Task[Any] | None
    vanished: bool = False
    waiting: bool = False
    cancelled: bool = False

    def vanish(self) -> None:
        self.vanished = True
        if self.waiting and self.task is not None and not self.cancelled:
            # Suspended on its source: wake it (the stream catches this cancel).
            self.cancelled = True
            self.task.cancel()


def _reloaded_payload() -> dict[str, Any]:
    error = GatewayError(
        "the gateway's schema was reloaded and this subscription's fields or "
        "subgraphs are gone; subscribe again",
        code=SCHEMA_RELOADED,
    )
    return {"errors": [error.to_graphql()]}


class LiveStreams:
    """The open subscriptions, so a reload can end those it invalidates."""

    def __init__(self) -> None:
        self._live: set[_Live] = set()

    def __len__(self) -> int:
        return len(self._live)

    def track(
        self,
        events: Callable[[], AsyncIterator[StreamEvent]],
        document: DocumentNode,
        services: frozenset[str],
        graph: str | None = None,
    ) -> Callable[[], AsyncIterator[StreamEvent]]:
        """``events`` ended by a ``SCHEMA_RELOADED`` event when a reload removes
        what it needs; ``graph`` names the feature flag it runs on (None: the base
        graph). The iterator runs in the stream's own task."""
        lives = self._live

        async def tracked() -> AsyncIterator[StreamEvent]:
            live = _Live(document, services, graph, asyncio.current_task())
            lives.add(live)
            source = events()
            try:
                while not live.vanished:
                    live.waiting = True
                    try:
                        event = await anext(source)
                    except StopAsyncIteration:
                        return
                    except asyncio.CancelledError:
                        if not live.cancelled:
                            raise
                        task = asyncio.current_task()
                        if task is not None:
                            task.uncancel()
                        break
                    finally:
                        live.waiting = False
                    yield event
                yield StreamEvent(None, _reloaded_payload())
            finally:
                lives.discard(live)
                close = getattr(source, "aclose", None)
                if close is not None:
                    try:
                        await close()
                    except Exception:  # a source broken by the cancel above
                        logger.debug("closing a reloaded stream's source failed")

        return tracked

    def invalidate(
        self,
        schemas: Mapping[str | None, GraphQLSchema],
        kept: Callable[[str], bool],
    ) -> int:
        """End the streams whose graph is gone from ``schemas`` (by feature flag;
        None is the base graph), whose document no longer validates against it, or
        that reach a subgraph not ``kept``; returns how many."""
        ended = 0
        for live in list(self._live):
            if live.vanished:
                continue
            schema = schemas.get(live.graph)
            gone = (
                schema is None
                or not all(kept(name) for name in live.services)
                or bool(validate(schema, live.document))
            )
            if gone:
                live.vanish()
                ended += 1
        return ended


# -- files and the reload loop -------------------------------------------------------------


def config_files(config: Config) -> frozenset[Path]:
    """supergraph.yaml and every SDL file it names."""
    files = {s.schema_file.resolve() for s in config.subgraphs if s.schema_file}
    if config.path is not None:
        files.add(Path(config.path).resolve())
    return frozenset(files)


def _watched(files: Iterable[Path]) -> frozenset[str]:
    return frozenset(str(path.resolve()) for path in files)


async def watch_files(
    files: Callable[[], Iterable[Path]], stop: asyncio.Event
) -> AsyncIterator[set[Path]]:
    """Yields the changed files among ``files()`` (asked again after each change,
    so a newly named SDL file is watched too)."""
    from watchfiles import awatch

    while not stop.is_set():
        wanted = _watched(files())
        directories = sorted({os.path.dirname(path) for path in wanted})
        if not directories:
            return

        def only_wanted(
            _change: object, name: str, wanted: frozenset[str] = wanted
        ) -> bool:
            return name in wanted

        async for changes in awatch(
            *directories,
            stop_event=stop,
            watch_filter=only_wanted,
            debounce=200,
            recursive=False,
            step=50,
        ):
            yield {Path(name) for _, name in changes}
            if _watched(files()) != wanted:
                break  # the set of files changed: watch the new one


@dataclass(slots=True)
class ReloadStatus:
    """What ``/health/ready`` tells of reloads."""

    generation: int = 1
    last_reload_at: float | None = None
    last_error: list[str] = field(default_factory=list)
    last_error_at: float | None = None


class Reloader:
    """One reload at a time; ``apply(config)`` builds and swaps (raising on failure)."""

    def __init__(
        self,
        path: Path,
        current: Callable[[], Config],
        apply: Callable[[Config], Awaitable[None]],
    ) -> None:
        self.path = path
        self._current = current
        self._apply = apply
        self._lock = asyncio.Lock()
        self._again = False
        self.status = ReloadStatus()

    def _load(self) -> Config:
        """The file read again; the listener and logging settings stay as started."""
        running = self._current()
        if self.path.suffix in _SDL_SUFFIXES:  # --supergraph: a composed SDL
            new = load_supergraph_config(self.path)
        else:
            new = load_config(
                self.path, skip_unsupported=running.gateway.skip_unsupported
            )
        for reason in new.skipped:
            logger.warning("left out: %s", reason)
        kept = {
            name: getattr(running.gateway, name)
            for name in (
                "host",
                "port",
                "telemetry",
                "log_level",
                "log_format",
                "access_log",
                "skip_unsupported",
            )
        }
        for name, value in kept.items():
            if getattr(new.gateway, name) != value:
                logger.warning("gateway.%s changed: it applies after a restart", name)
        return dataclasses.replace(
            new, gateway=dataclasses.replace(new.gateway, **kept)
        )

    async def reload(self, reason: str) -> bool:
        """Reload now (or once more after the running reload). True on success."""
        if self._lock.locked():
            self._again = True
            return False
        async with self._lock:
            ok = await self._reload_once(reason)
            while self._again:
                self._again = False
                ok = await self._reload_once("changed during a reload")
            return ok

    async def _reload_once(self, reason: str) -> bool:
        logger.info("reloading %s (%s)", self.path, reason)
        started = time.perf_counter()
        try:
            config = self._load()
            await self._apply(config)
        except CompositionError as exc:
            self._fail([str(issue) for issue in exc.issues])
            return False
        except GatewayError as exc:
            self._fail([str(exc) if isinstance(exc, ConfigError) else exc.message])
            return False
        except OSError as exc:
            self._fail([f"{self.path}: {exc.strerror or exc}"])
            return False
        except Exception as exc:
            logger.exception("reload failed")
            self._fail([f"the reload failed: {type(exc).__name__}"])
            return False
        status = self.status
        status.generation += 1
        status.last_reload_at = time.time()
        status.last_error = []
        status.last_error_at = None
        logger.info(
            "reloaded: generation %d in %.0f ms",
            status.generation,
            (time.perf_counter() - started) * 1000,
        )
        return True

    def _fail(self, errors: list[str]) -> None:
        self.status.last_error = errors
        self.status.last_error_at = time.time()
        logger.error(
            "reload failed; the previous supergraph keeps serving (%d error(s))",
            len(errors),
        )
        for error in errors:
            logger.error("  %s", error)
