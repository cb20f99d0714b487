#!/usr/bin/env bash
# fuzz.sh: runs every Go fuzz target for a bounded time (FUZZTIME, default 20s each).
# Targets are discovered from the source, so a new Fuzz* function is run without
# editing this script.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-20s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]*)\(' "$f" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/'); do
    echo "fuzz: $pkg $name ($t)"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg"
  done
done
