"""The README's runnable snippets: a ``<!-- run: NAME -->`` line, then a fenced block."""

from __future__ import annotations

import re

from tests.helpers.processes import ROOT

__all__ = ["README", "snippets"]

README = ROOT / "README.md"
_SNIPPET = re.compile(r"<!-- run: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)


def snippets() -> dict[str, str]:
    """Every runnable snippet of the README, by name."""
    return dict(_SNIPPET.findall(README.read_text()))
