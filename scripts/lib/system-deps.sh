#!/usr/bin/env bash
# Debian packages the test suite needs: Node and npm (the client libraries under
# tests/node, the playground's assets) when npm is missing, and Chromium (the
# playground's browser test). Idempotent: installs only what is missing; without apt
# (or without root) it says what is missing and goes on: the tests that need it fail
# with a message saying so.
set -euo pipefail
missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages (install them with apt): ${missing[*]}" >&2
  exit 0
fi
echo "Installing system packages: ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || echo "apt-get update failed; trying the cached lists" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
  || echo "could not install: ${missing[*]}" >&2
