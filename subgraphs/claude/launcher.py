#!/usr/bin/env python3
"""Starts the Claude CLI in its own process group, bound to the gateway's life.

claude-agent-sdk spawns this file as if it were the CLI (its ``cli_path``); the
gateway puts what to run in ``GATEWAY_CLAUDE_LAUNCH`` (JSON: ``cli``, ``env``,
``parent``). The launcher then, in the same process (``exec`` keeps the pid):

1. makes a process group of its own, so that stopping a command can signal the
   CLI and every shell command it started, and so a Ctrl-C meant for the gateway
   does not reach it;
2. on Linux, asks the kernel for SIGKILL when its parent dies
   (``prctl(PR_SET_PDEATHSIG)``), so the CLI never outlives a gateway that was
   killed with SIGKILL; if the parent is already gone, it exits;
3. replaces itself with the CLI, with exactly the environment the gateway chose
   (``env``) plus the variables the SDK sets for the CLI (``CLAUDE_*``).

Standard library only. The gateway runs it with its own interpreter through a
two-line shell script it writes next to its database (``write_launcher_script``),
so neither ``python3`` on PATH nor this file's executable bit is needed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import sys
from pathlib import Path

__all__ = ["LAUNCH_VARIABLE", "main", "write_launcher_script"]

LAUNCH_VARIABLE = "GATEWAY_CLAUDE_LAUNCH"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")


def write_launcher_script(directory: Path) -> Path:
    """``directory/claude-launcher``: ``exec <this python> <this file> "$@"``
    (rewritten at each start, owner-only)."""
    script = directory / "claude-launcher"
    text = (
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(__file__)} "$@"\n'
    )
    temporary = script.with_name(f".claude-launcher.{os.getpid()}")
    temporary.write_text(text)
    temporary.chmod(0o700)
    temporary.replace(script)
    return script


def main(argv: list[str]) -> int:
    raw = os.environ.get(LAUNCH_VARIABLE)
    if not raw:
        sys.stderr.write(f"launcher: {LAUNCH_VARIABLE} is not set\n")
        return 2
    spec = json.loads(raw)
    cli = str(spec["cli"])
    env = {str(k): str(v) for k, v in dict(spec["env"]).items()}
    for name, value in os.environ.items():
        # What the SDK sets for the CLI (CLAUDE_CODE_ENTRYPOINT, PWD, ...).
        if (name.startswith("CLAUDE_") or name == "PWD") and name not in env:
            env[name] = value
    env.pop(LAUNCH_VARIABLE, None)
    os.setpgid(0, 0)
    _die_with_parent()
    # The parent may have died before prctl: then nobody would kill us.
    if os.getppid() != int(spec["parent"]):
        return 1
    try:
        os.execve(cli, [cli, *argv], env)
    except OSError as error:
        sys.stderr.write(f"launcher: cannot run {cli}: {error.strerror}\n")
        return 127
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
