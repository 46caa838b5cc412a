#!/usr/bin/env bash
# `make demo`: a short transcript on the embedded SQLite datastore.
# Uses a fresh database in a temp dir so it can run any number of times and leaves nothing behind.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/weft-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export WEFT_DATASTORE="sqlite:$dir/weft.db"

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
step() { printf '\n%s$ %s%s\n' "$B" "$*" "$N"; }
run() { step "$*"; "$@"; rc=$?; [ $rc -ne 0 ] && printf '(exit code %d)\n' "$rc"; return 0; }

echo "Weft demo — embedded datastore at $dir/weft.db"
run cat examples/seed-ippool.yaml
step "weft create -f - < examples/seed-ippool.yaml    # the seed's v1 manifest, verbatim"
./bin/weft create -f - < examples/seed-ippool.yaml
run ./bin/weft get ippools
run ./bin/weft get ippools -o yaml
run ./bin/weft convert -f examples/seed-ippool.yaml
run cat examples/bad-ippool.yaml
run ./bin/weft create -f examples/bad-ippool.yaml
echo "# nothing from the rejected file was stored:"
run ./bin/weft get ippools -o wide
run ./bin/weft ipam show
