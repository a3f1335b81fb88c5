"""Server reflection that carries the proto comments.

The generated ``_pb2`` modules hold their files without source info, so the stock reflection
service answers without a single comment. ``make proto`` also writes every file with its
comments to ``gen/essayflow/descriptors.binpb``; this servicer answers from those (falling back
to the generated descriptors for files it does not hold, such as grpc.health), so
``grpcurl describe`` shows what each RPC does."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import _base, reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as _reflection_pb2

from essayflow.common.v1 import options_pb2

DESCRIPTOR_SET = Path(options_pb2.__file__).resolve().parents[2] / "descriptors.binpb"


@cache
def descriptor_set() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Every file of proto/ (and its imports) with source info, by file name."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    return {f.name: f for f in files.file}


def _response(descriptor: Any, request: Any) -> Any:
    commented = descriptor_set()
    seen: dict[str, Any] = {}

    def collect(file: Any) -> None:
        seen[file.name] = file
        for dependency in file.dependencies:
            if dependency.name not in seen:
                collect(dependency)

    collect(descriptor)
    serialized = []
    for name, file in seen.items():
        if name in commented:
            serialized.append(commented[name].SerializeToString())
        else:
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            serialized.append(proto.SerializeToString())
    return _reflection_pb2.ServerReflectionResponse(
        file_descriptor_response=_reflection_pb2.FileDescriptorResponse(file_descriptor_proto=serialized),
        original_request=request,
    )


class CommentedReflection(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    """The stock servicer with file descriptors that keep their comments."""

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            descriptor = self._pool.FindFileByName(filename)
        except KeyError:
            return _base._not_found_error(request)
        return _response(descriptor, request)

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            descriptor = self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            return _base._not_found_error(request)
        return _response(descriptor, request)


def enable(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(CommentedReflection(list(service_names)), server)
