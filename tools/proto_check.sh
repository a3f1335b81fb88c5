#!/usr/bin/env bash
# Fails when the contracts are not clean, not compatible, or not what gen/ holds:
#   1. buf lint (STANDARD)
#   2. buf breaking (FILE) against the committed baseline of released contracts
#   3. gen/ differs from what proto/ generates now
#   4. docs/subjects.md, docs/field-limits.md or docs/api.md differ from what proto/ generates
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BUF=$(dirname "$PY")/buf
BASELINE=proto-baseline/essayflow.binpb

echo "buf lint"; "$BUF" lint
echo "buf breaking against $BASELINE"; "$BUF" breaking --against "$BASELINE"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
PY="$PY" tools/gen_proto.sh "$tmp" 
if ! diff -r -x __pycache__ gen/essayflow "$tmp/essayflow" >/dev/null \
   || ! diff -r -x __pycache__ gen/essayflow_models "$tmp/essayflow_models" >/dev/null \
   || ! diff -r -x __pycache__ gen/buf "$tmp/buf" >/dev/null; then
  echo "gen/ is stale: run 'make proto' and commit the result" >&2
  diff -r -q -x __pycache__ gen "$tmp" >&2 || true
  exit 1
fi
echo "gen/ matches proto/"

"$PY" -m essayflow_cli.limits > "$tmp/field-limits.md"
if ! diff -q docs/field-limits.md "$tmp/field-limits.md" >/dev/null; then
  echo "docs/field-limits.md is stale: run 'make proto' and commit the result" >&2
  exit 1
fi

echo "docs/field-limits.md matches proto/"

"$PY" -m essayflow_cli.subjects > "$tmp/subjects.md"
if ! diff -q docs/subjects.md "$tmp/subjects.md" >/dev/null; then
  echo "docs/subjects.md is stale: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "docs/subjects.md matches proto/"

"$PY" -m essayflow_cli.apidoc > "$tmp/api.md"
if ! diff -q docs/api.md "$tmp/api.md" >/dev/null; then
  echo "docs/api.md is stale: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "docs/api.md matches proto/"
