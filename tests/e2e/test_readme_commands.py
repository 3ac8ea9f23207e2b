"""The README's commands for running ``gateway`` and a subgraph from outside scripts/
work as written (``gateway dev`` itself is run by test_dev.py)."""

from __future__ import annotations

import re
import shlex
import subprocess

from tests.helpers.processes import ROOT


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    marker = readme.index("outside it call the command through")
    block = re.search(r"```sh\n(.*?)```", readme[marker:], re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_commands_run_through_the_venv() -> None:
    commands = _commands()
    assert any("python -m subgraphs." in c for c in commands)
    for command in commands:
        argv = shlex.split(command)
        if "dev" in argv:
            continue  # serves until stopped: test_dev.py runs it
        done = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip(), command
