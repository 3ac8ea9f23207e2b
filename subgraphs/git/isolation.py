"""``isolate_libgit2()``: libgit2 reads nothing but the repository itself.

libgit2 (through pygit2) runs no program a repository or a user configures: it has
no hooks, runs no ``filter.<driver>`` clean/smudge/process commands (only its
built-in CRLF and ident filters), no textconv, external diff, fsmonitor, pager,
gpg, credential helper, upload-pack or ssh command, and it never fetches missing
objects of a partial clone. The subgraph opens every repository with
``NO_SEARCH`` and without ``FROM_ENV``, so ``GIT_DIR``, ``GIT_WORK_TREE``,
``GIT_COMMON_DIR``, ``GIT_OBJECT_DIRECTORY`` and the other ``GIT_*`` variables are
ignored.

What is left is configuration read from outside the repository: this empties
libgit2's search paths for the global, XDG, system and program-data levels, so
``~/.gitconfig``, ``$XDG_CONFIG_HOME/git/config`` and ``/etc/gitconfig`` (and the
global ignore and attributes files they would name) are never read. The setting
is process-wide; it is applied once, before the first repository is opened.
"""

from __future__ import annotations

import threading

import pygit2
from pygit2.enums import ConfigLevel

__all__ = ["isolate_libgit2"]

_LEVELS = (
    ConfigLevel.GLOBAL,
    ConfigLevel.XDG,
    ConfigLevel.SYSTEM,
    ConfigLevel.PROGRAMDATA,
)
_lock = threading.Lock()
_done = False


def isolate_libgit2() -> None:
    """Point libgit2's configuration search paths nowhere (idempotent)."""
    global _done
    with _lock:
        if _done:
            return
        for level in _LEVELS:
            pygit2.settings.search_path[level] = ""
        _done = True
