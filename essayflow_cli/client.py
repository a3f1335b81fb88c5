"""gRPC channels and call credentials for the CLI (and the demo)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.cms.v1 import cms_pb2_grpc
from essayflow.els.v1 import els_pb2_grpc
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings
from essayflow_runtime.grpc_client import open_channel


@dataclass
class Clients:
    """Stubs for the three services a teacher talks to, sharing one identity."""

    settings: Settings
    token: str

    def __post_init__(self) -> None:
        host = self.settings.host
        self._channels = [
            open_channel(self.settings, f"{host}:{port}")
            for port in (self.settings.bos_port, self.settings.els_port, self.settings.cms_port)
        ]
        self.bos = bos_pb2_grpc.BatchOrchestratorServiceStub(self._channels[0])
        self.els = els_pb2_grpc.EssayLifecycleServiceStub(self._channels[1])
        self.cms = cms_pb2_grpc.ClassManagementServiceStub(self._channels[2])

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    async def register_batch(
        self, count: int, course_code: int, *, class_id: str = "", title: str = "", allow_other_course: bool = False
    ) -> bos_pb2.Batch:
        """RegisterBatch with a fresh idempotency key (a retry of this call is a new batch)."""
        response = await self.bos.RegisterBatch(
            bos_pb2.RegisterBatchRequest(
                expected_essay_count=count,
                course_code=course_code,  # type: ignore[arg-type]
                class_id=class_id,
                title=title,
                idempotency_key=str(uuid.uuid4()),
                allow_other_course=allow_other_course,
            ),
            metadata=self.metadata,
        )
        batch: bos_pb2.Batch = response.batch
        return batch

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def resolve_token(settings: Settings, token: str | None, user: str, role: str) -> str:
    """An explicit token, else $ESSAYFLOW_TOKEN, else a development token for user/role."""
    return token or os.environ.get("ESSAYFLOW_TOKEN") or mint_token(settings, user, Role(role))
