#!/usr/bin/env bash
# Generates both Python views of proto/ into OUT (default: gen/):
#   OUT/essayflow/...        grpcio-tools: _pb2.py, .pyi, _pb2_grpc.py (the wire layer)
#   OUT/essayflow_models/... betterproto2 dataclasses of the same messages
#   OUT/buf/validate/...     _pb2 of the vendored buf.validate rules the essayflow files import (the
#                            protovalidate wheel validates natively and ships no google.protobuf module)
#   OUT/essayflow/descriptors.binpb  every file with its comments (source info) and imports:
#                                    what server reflection serves and docs/api.md is made from
# The betterproto2 compiler formats its output with ruff, so ruff must be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gen}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
PY=${PY:-.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
export PATH="$(dirname "$PY"):$PATH"
mapfile -t PROTOS < <(cd proto && find essayflow -name '*.proto' | LC_ALL=C sort)
rm -rf "$OUT/essayflow" "$OUT/essayflow_models" "$OUT/buf"
mkdir -p "$OUT/essayflow_models"
(cd proto && "$PY" -m grpc_tools.protoc -I . \
  --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" "${PROTOS[@]}")
(cd proto && "$PY" -m grpc_tools.protoc -I . --python_out="$OUT" --pyi_out="$OUT" buf/validate/validate.proto)
(cd proto && "$PY" -m grpc_tools.protoc -I . --include_imports --include_source_info \
  --descriptor_set_out="$OUT/essayflow/descriptors.binpb" "${PROTOS[@]}")
(cd proto && "$PY" -m grpc_tools.protoc -I . \
  --python_betterproto2_out="$OUT/essayflow_models" "${PROTOS[@]}" >/dev/null 2>&1)
# Messages without services get an empty _pb2_grpc module; drop those, they only add noise.
find "$OUT/essayflow" -name '*_pb2_grpc.py' -print0 | while IFS= read -r -d '' f; do
  grep -q 'class .*Stub' "$f" || rm "$f"
done
