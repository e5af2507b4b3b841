#!/usr/bin/env bash
# Prints the bin directory of a Node.js release taken from the npm registry (the node-<os>-<arch>
# packages carry the official binaries), so CI can run the suite on Node lines other than the
# machine's with nothing but registry access. Usage: PATH="$(scripts/registry-node.sh 24):$PATH"
# The argument is an npm version range (24, 22.22, 24.15.0); the download is cached.
set -euo pipefail
range="${1:?usage: registry-node.sh <version range, e.g. 24>}"
pkg="node-$(node -p 'process.platform')-$(node -p 'process.arch')"
version="$(npm view "$pkg@$range" version --json | node -pe 'const v = JSON.parse(require("fs").readFileSync(0)); [].concat(v).pop()')"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/mfg-node/$pkg-$version"
if [ ! -x "$dir/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  npm pack "$pkg@$version" --pack-destination "$tmp" --silent >/dev/null
  mkdir -p "$dir"
  tar xzf "$tmp/$pkg-$version.tgz" -C "$dir" --strip-components=1
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"
