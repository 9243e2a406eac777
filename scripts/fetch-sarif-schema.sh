#!/usr/bin/env bash
# Fetches the SARIF 2.1.0 JSON schema that `check -o sarif` is validated against in the tests,
# and prints its path. The schema's copy on a registry these machines reach is the one inside
# Microsoft's SARIF multitool package on npm; it is kept in DIR (default: target/sarif-schema)
# so later runs do not fetch it again.
set -euo pipefail
dir="${1:-${CARGO_TARGET_DIR:-target}/sarif-schema}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
schema="$dir/sarif-2.1.0.json"
if [ ! -s "$schema" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent @microsoft/sarif-multitool-linux@5.7.0 >/dev/null)
    tar -xzf "$work"/microsoft-sarif-multitool-linux-5.7.0.tgz -C "$work" package/sarif-2.1.0.json
    mv "$work/package/sarif-2.1.0.json" "$schema"
fi
echo "$schema"
