import datetime

from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from essayflow.events.v1 import bos_events_pb2 as _bos_events_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredEssay(_message.Message):
    __slots__ = ("essay_id", "text_storage_id", "file_name", "student_id", "association_status", "validation_method")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATION_STATUS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    text_storage_id: str
    file_name: str
    student_id: str
    association_status: _common_pb2.StudentAssociationStatus
    validation_method: _common_pb2.AssociationValidationMethod
    def __init__(self, essay_id: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., file_name: _Optional[str] = ..., student_id: _Optional[str] = ..., association_status: _Optional[_Union[_common_pb2.StudentAssociationStatus, str]] = ..., validation_method: _Optional[_Union[_common_pb2.AssociationValidationMethod, str]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_id", "owner_id", "class_id", "batch_type", "course_code", "expected_essay_count", "essay_ids", "status", "version", "created_at", "updated_at", "essays", "title", "status_since", "waiting_for", "waited")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ESSAY_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ESSAYS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_SINCE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_FIELD_NUMBER: _ClassVar[int]
    WAITED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    owner_id: str
    class_id: str
    batch_type: _common_pb2.BatchType
    course_code: _common_pb2.CourseCode
    expected_essay_count: int
    essay_ids: _containers.RepeatedScalarFieldContainer[str]
    status: _common_pb2.BatchStatus
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    essays: _containers.RepeatedCompositeFieldContainer[StoredEssay]
    title: str
    status_since: _timestamp_pb2.Timestamp
    waiting_for: WaitingFor
    waited: _duration_pb2.Duration
    def __init__(self, batch_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., class_id: _Optional[str] = ..., batch_type: _Optional[_Union[_common_pb2.BatchType, str]] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., expected_essay_count: _Optional[int] = ..., essay_ids: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., essays: _Optional[_Iterable[_Union[StoredEssay, _Mapping]]] = ..., title: _Optional[str] = ..., status_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., waiting_for: _Optional[_Union[WaitingFor, _Mapping]] = ..., waited: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WaitingFor(_message.Message):
    __slots__ = ("code", "description", "expected_from")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FROM_FIELD_NUMBER: _ClassVar[int]
    code: str
    description: str
    expected_from: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, code: _Optional[str] = ..., description: _Optional[str] = ..., expected_from: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchTransition(_message.Message):
    __slots__ = ("batch_id", "version", "from_status", "to_status", "cause", "actor", "idempotency_key", "correlation_id", "reason", "occurred_at")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    version: int
    from_status: _common_pb2.BatchStatus
    to_status: _common_pb2.BatchStatus
    cause: str
    actor: str
    idempotency_key: str
    correlation_id: str
    reason: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, batch_id: _Optional[str] = ..., version: _Optional[int] = ..., from_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., to_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., cause: _Optional[str] = ..., actor: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., correlation_id: _Optional[str] = ..., reason: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterBatchRequest(_message.Message):
    __slots__ = ("expected_essay_count", "course_code", "class_id", "title", "idempotency_key", "allow_other_course")
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_OTHER_COURSE_FIELD_NUMBER: _ClassVar[int]
    expected_essay_count: int
    course_code: _common_pb2.CourseCode
    class_id: str
    title: str
    idempotency_key: str
    allow_other_course: bool
    def __init__(self, expected_essay_count: _Optional[int] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., class_id: _Optional[str] = ..., title: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., allow_other_course: _Optional[bool] = ...) -> None: ...

class RegisterBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class GetBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "waited_longer_than", "statuses")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WAITED_LONGER_THAN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: _common_pb2.BatchStatus
    waited_longer_than: _duration_pb2.Duration
    statuses: _containers.RepeatedScalarFieldContainer[_common_pb2.BatchStatus]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., waited_longer_than: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[_common_pb2.BatchStatus, str]]] = ...) -> None: ...

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches", "next_page_token")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    next_page_token: str
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TransitionBatchRequest(_message.Message):
    __slots__ = ("batch_id", "expected_status", "target_status", "expected_version", "idempotency_key", "reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STATUS_FIELD_NUMBER: _ClassVar[int]
    TARGET_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    expected_status: _common_pb2.BatchStatus
    target_status: _common_pb2.BatchStatus
    expected_version: int
    idempotency_key: str
    reason: str
    def __init__(self, batch_id: _Optional[str] = ..., expected_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., target_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., expected_version: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TransitionBatchResponse(_message.Message):
    __slots__ = ("batch", "transition", "replayed")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    transition: BatchTransition
    replayed: bool
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., transition: _Optional[_Union[BatchTransition, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class ListBatchTransitionsRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class ListBatchTransitionsResponse(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[BatchTransition]
    def __init__(self, transitions: _Optional[_Iterable[_Union[BatchTransition, _Mapping]]] = ...) -> None: ...

class RequestPipelineRequest(_message.Message):
    __slots__ = ("batch_id", "pipelines", "idempotency_key")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    pipelines: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, batch_id: _Optional[str] = ..., pipelines: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RequestPipelineResponse(_message.Message):
    __slots__ = ("batch", "request")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    request: _bos_events_pb2.BatchPipelineRequested
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., request: _Optional[_Union[_bos_events_pb2.BatchPipelineRequested, _Mapping]] = ...) -> None: ...

class CancelBatchRequest(_message.Message):
    __slots__ = ("batch_id", "reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    reason: str
    def __init__(self, batch_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class WatchBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class WatchBatchResponse(_message.Message):
    __slots__ = ("batch", "transition")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    transition: BatchTransition
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., transition: _Optional[_Union[BatchTransition, _Mapping]] = ...) -> None: ...

class ReconcileBatchRequest(_message.Message):
    __slots__ = ("batch_id", "reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    reason: str
    def __init__(self, batch_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReconcileBatchResponse(_message.Message):
    __slots__ = ("batch", "reconcile_id", "requested", "reissued")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    REISSUED_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    reconcile_id: str
    requested: bool
    reissued: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., reconcile_id: _Optional[str] = ..., requested: _Optional[bool] = ..., reissued: _Optional[_Iterable[str]] = ...) -> None: ...

class DescribeStateMachineRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StateMachineEdge(_message.Message):
    __slots__ = ("from_status", "to_status", "trigger", "guards")
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    GUARDS_FIELD_NUMBER: _ClassVar[int]
    from_status: _common_pb2.BatchStatus
    to_status: _common_pb2.BatchStatus
    trigger: str
    guards: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., to_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., trigger: _Optional[str] = ..., guards: _Optional[_Iterable[str]] = ...) -> None: ...

class DescribeStateMachineResponse(_message.Message):
    __slots__ = ("edges", "terminal_statuses", "initial_status")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_STATUSES_FIELD_NUMBER: _ClassVar[int]
    INITIAL_STATUS_FIELD_NUMBER: _ClassVar[int]
    edges: _containers.RepeatedCompositeFieldContainer[StateMachineEdge]
    terminal_statuses: _containers.RepeatedScalarFieldContainer[_common_pb2.BatchStatus]
    initial_status: _common_pb2.BatchStatus
    def __init__(self, edges: _Optional[_Iterable[_Union[StateMachineEdge, _Mapping]]] = ..., terminal_statuses: _Optional[_Iterable[_Union[_common_pb2.BatchStatus, str]]] = ..., initial_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ...) -> None: ...

class PurgeBatchRequest(_message.Message):
    __slots__ = ("batch_id", "reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    reason: str
    def __init__(self, batch_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PurgeBatchResponse(_message.Message):
    __slots__ = ("batch", "purged_at", "already_purged", "event")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PURGED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    purged_at: _timestamp_pb2.Timestamp
    already_purged: bool
    event: _bos_events_pb2.BatchPurged
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., purged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_purged: _Optional[bool] = ..., event: _Optional[_Union[_bos_events_pb2.BatchPurged, _Mapping]] = ...) -> None: ...
