#!/usr/bin/env bash
# Install the npm packages the project uses, each set pinned in its own package.json:
# the tests' (tests/node, tests/node/clients) into their node_modules, and the
# playground's assets (playground/package.json) into .cache/playground. A no-op when
# they are there. Skips quietly without npm: the tests that need Node then fail with a
# message saying so, and the playground page says its assets are missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v npm >/dev/null 2>&1 || { echo "npm not found: Node-based tests will fail" >&2; exit 0; }

# install SOURCE_DIR TARGET_DIR: SOURCE_DIR's package.json (and lock) into TARGET_DIR.
install() {
  local source="$1" target="$2"
  [ -f "$source/package.json" ] || return 0
  local stamp="$target/node_modules/.installed-$(cat "$source"/package.json "$source"/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  echo "Installing npm packages of $source into $target/node_modules ..." >&2
  mkdir -p "$target"
  if [ "$source" != "$target" ]; then
    cp "$source/package.json" "$target/"
    [ -f "$source/package-lock.json" ] && cp "$source/package-lock.json" "$target/"
  fi
  (cd "$target" && npm install --no-audit --no-fund --loglevel=error >&2)
  rm -f "$target"/node_modules/.installed-*
  touch "$stamp"
}

if [ "${1:-}" != "playground" ]; then  # `node-deps.sh playground`: only the playground's
  install "$ROOT/tests/node" "$ROOT/tests/node"
  install "$ROOT/tests/node/clients" "$ROOT/tests/node/clients"
fi
install "$ROOT/playground" "$ROOT/.cache/playground"
