#!/usr/bin/env bash
# Install the npm packages the tests drive (pinned in tests/node/package.json) into
# tests/node/node_modules; a no-op when they are there. Skips quietly without npm: the
# tests that need Node then fail with a message saying so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_DIR="$ROOT/tests/node"
[ -f "$NODE_DIR/package.json" ] || exit 0
command -v npm >/dev/null 2>&1 || { echo "npm not found: Node-based tests will fail" >&2; exit 0; }
stamp="$NODE_DIR/node_modules/.installed-$(sha256sum "$NODE_DIR/package.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Node test dependencies into $NODE_DIR/node_modules ..." >&2
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
  rm -f "$NODE_DIR"/node_modules/.installed-*
  touch "$stamp"
fi
