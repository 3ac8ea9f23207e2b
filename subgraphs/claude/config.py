"""The claude subgraph's settings: supergraph.yaml ``options`` over environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subgraphs.claude.paths import resolve_roots

__all__ = ["ClaudeConfig", "default_db_path"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_KNOWN_OPTIONS = {
    "db_path",
    "cli_path",
    "command_timeout",
    "dangerous_mode",
    "model",
    "env",
    "kill_grace",
    "subscriber_queue_size",
    "roots",
    "permission_timeout",
    "interrupt_grace",
}


def default_db_path(environ: Mapping[str, str]) -> Path:
    """``$GATEWAY_STATE_DIR/claude.sqlite3``, else ``$XDG_STATE_HOME/gateway/...``,
    else ``~/.local/state/gateway/claude.sqlite3``."""
    state_dir = environ.get("GATEWAY_STATE_DIR")
    if state_dir:
        return Path(state_dir).expanduser() / "claude.sqlite3"
    xdg = environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "gateway" / "claude.sqlite3"


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def _seconds(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", "0")):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, not {value!r}")
    return seconds or None


@dataclass(frozen=True, slots=True)
class ClaudeConfig:
    """Resolved settings. ``None`` means: let the SDK decide (bundled CLI, CLI's
    default model) or, for ``command_timeout``, no timeout."""

    db_path: Path
    roots: tuple[Path, ...] = field(default_factory=lambda: (Path.cwd(),))
    """Directories (symbolic links resolved) that working directories must lie in."""
    cli_path: str | None = None
    command_timeout: float | None = None
    dangerous_mode: bool = False
    """Whether sessions may use ``permissionMode: bypassPermissions`` (and the
    default mode of sessions that do not choose one)."""
    model: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables set for the CLI, on top of its minimal environment."""
    env_allow: tuple[str, ...] = ()
    """Names of the gateway's variables passed on to the CLI as they are."""
    kill_grace: float = 3.0
    """Seconds between SIGTERM and SIGKILL when a command is stopped."""
    interrupt_grace: float = 5.0
    """Seconds a command may take to end after the interrupt control request,
    before SIGTERM."""
    permission_timeout: float | None = 300.0
    """Seconds a permission request waits for an answer before it is denied."""
    subscriber_queue_size: int = 1024
    """Live events buffered per subscriber before it falls back to SQLite."""

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> ClaudeConfig:
        """Options (supergraph.yaml) win over the environment. Bad values raise
        ``ValueError`` naming the option."""
        env = os.environ if environ is None else environ
        unknown = sorted(set(options) - _KNOWN_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(_KNOWN_OPTIONS))}"
            )

        def pick(option: str, variable: str | None) -> Any:
            if options.get(option) is not None:
                return options[option]
            return env.get(variable) if variable else None

        raw_db = pick("db_path", "CLAUDE_DB_PATH")
        db_path = Path(str(raw_db)).expanduser() if raw_db else default_db_path(env)
        cli_path = pick("cli_path", "CLAUDE_CLI_PATH")
        model = pick("model", "CLAUDE_MODEL")
        dangerous = pick("dangerous_mode", "CLAUDE_DANGEROUS_MODE")
        extra_env: Any = options.get("env")
        if extra_env is None and env.get("CLAUDE_ENV_ALLOW"):
            extra_env = [n.strip() for n in env["CLAUDE_ENV_ALLOW"].split(",")]
        extra_env = extra_env or {}
        env_allow: tuple[str, ...] = ()
        if isinstance(extra_env, list | tuple):
            env_allow = tuple(str(name) for name in extra_env if str(name))
            extra_env = {}
        elif not isinstance(extra_env, Mapping):
            raise ValueError(
                "env must be a list of variable names to pass on, or a mapping "
                "of variable names to values"
            )
        raw_roots: Any = options.get("roots")
        if raw_roots is None:
            from_env = env.get("CLAUDE_ROOTS")
            raw_roots = from_env.split(os.pathsep) if from_env else [os.getcwd()]
        if isinstance(raw_roots, str) or not isinstance(raw_roots, list | tuple):
            raise ValueError("roots must be a list of directories")
        roots = resolve_roots([str(r) for r in raw_roots if str(r).strip()])
        if not roots:
            raise ValueError("roots must name at least one directory")
        permission_timeout = _seconds(
            "permission_timeout", options.get("permission_timeout", 300)
        )
        interrupt_grace = _seconds(
            "interrupt_grace", options.get("interrupt_grace", 5.0)
        )
        queue_size = int(options.get("subscriber_queue_size") or 1024)
        if queue_size < 1:
            raise ValueError("subscriber_queue_size must be at least 1")
        grace = _seconds("kill_grace", options.get("kill_grace", 3.0))
        return cls(
            db_path=db_path,
            cli_path=str(cli_path) if cli_path else None,
            command_timeout=_seconds(
                "command_timeout", pick("command_timeout", "CLAUDE_COMMAND_TIMEOUT")
            ),
            dangerous_mode=_bool("dangerous_mode", dangerous)
            if dangerous is not None
            else False,
            model=str(model) if model else None,
            env={str(k): str(v) for k, v in extra_env.items()},
            env_allow=env_allow,
            roots=roots,
            kill_grace=grace if grace is not None else 0.0,
            interrupt_grace=interrupt_grace if interrupt_grace is not None else 0.0,
            permission_timeout=permission_timeout,
            subscriber_queue_size=queue_size,
        )
