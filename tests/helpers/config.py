"""Writing a supergraph.yaml in a test's tmp directory and loading it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gateway.config import Config, load_config

__all__ = ["SDL", "load", "write"]

SDL = "type Query { hello: String }\n"


def write(tmp_path: Path, yaml_text: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "supergraph.yaml"
    path.write_text(textwrap.dedent(yaml_text).lstrip("\n"))
    return path


def load(
    tmp_path: Path,
    yaml_text: str,
    environ: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> Config:
    return load_config(write(tmp_path, yaml_text, files), environ=environ or {})
