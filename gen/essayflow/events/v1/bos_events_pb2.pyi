import datetime

from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchEssaysRegistered(_message.Message):
    __slots__ = ("batch_id", "essay_ids", "expected_essay_count", "course_code", "class_id", "batch_type", "owner_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ESSAY_IDS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    essay_ids: _containers.RepeatedScalarFieldContainer[str]
    expected_essay_count: int
    course_code: _common_pb2.CourseCode
    class_id: str
    batch_type: _common_pb2.BatchType
    owner_id: str
    def __init__(self, batch_id: _Optional[str] = ..., essay_ids: _Optional[_Iterable[str]] = ..., expected_essay_count: _Optional[int] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., class_id: _Optional[str] = ..., batch_type: _Optional[_Union[_common_pb2.BatchType, str]] = ..., owner_id: _Optional[str] = ...) -> None: ...

class StudentMatchingInitiate(_message.Message):
    __slots__ = ("batch_id", "class_id", "course_code", "essays")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    ESSAYS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    course_code: _common_pb2.CourseCode
    essays: _containers.RepeatedCompositeFieldContainer[_common_pb2.EssayRef]
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., essays: _Optional[_Iterable[_Union[_common_pb2.EssayRef, _Mapping]]] = ...) -> None: ...

class BatchStatusChanged(_message.Message):
    __slots__ = ("batch_id", "from_status", "to_status", "version", "actor", "cause", "reason", "changed_at", "owner_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    from_status: _common_pb2.BatchStatus
    to_status: _common_pb2.BatchStatus
    version: int
    actor: str
    cause: str
    reason: str
    changed_at: _timestamp_pb2.Timestamp
    owner_id: str
    def __init__(self, batch_id: _Optional[str] = ..., from_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., to_status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., version: _Optional[int] = ..., actor: _Optional[str] = ..., cause: _Optional[str] = ..., reason: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., owner_id: _Optional[str] = ...) -> None: ...

class BatchPipelineRequested(_message.Message):
    __slots__ = ("batch_id", "pipelines", "requested_by", "course_code", "essays")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    ESSAYS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    pipelines: _containers.RepeatedScalarFieldContainer[str]
    requested_by: str
    course_code: _common_pb2.CourseCode
    essays: _containers.RepeatedCompositeFieldContainer[ReadyEssay]
    def __init__(self, batch_id: _Optional[str] = ..., pipelines: _Optional[_Iterable[str]] = ..., requested_by: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., essays: _Optional[_Iterable[_Union[ReadyEssay, _Mapping]]] = ...) -> None: ...

class BatchReconciliationRequested(_message.Message):
    __slots__ = ("batch_id", "status", "version", "reconcile_id", "class_id", "batch_type", "requested_by")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    status: _common_pb2.BatchStatus
    version: int
    reconcile_id: str
    class_id: str
    batch_type: _common_pb2.BatchType
    requested_by: str
    def __init__(self, batch_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.BatchStatus, str]] = ..., version: _Optional[int] = ..., reconcile_id: _Optional[str] = ..., class_id: _Optional[str] = ..., batch_type: _Optional[_Union[_common_pb2.BatchType, str]] = ..., requested_by: _Optional[str] = ...) -> None: ...

class ReadyEssay(_message.Message):
    __slots__ = ("essay", "student_id", "association_status", "validation_method")
    ESSAY_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATION_STATUS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    essay: _common_pb2.EssayRef
    student_id: str
    association_status: _common_pb2.StudentAssociationStatus
    validation_method: _common_pb2.AssociationValidationMethod
    def __init__(self, essay: _Optional[_Union[_common_pb2.EssayRef, _Mapping]] = ..., student_id: _Optional[str] = ..., association_status: _Optional[_Union[_common_pb2.StudentAssociationStatus, str]] = ..., validation_method: _Optional[_Union[_common_pb2.AssociationValidationMethod, str]] = ...) -> None: ...

class BatchPurged(_message.Message):
    __slots__ = ("batch_id", "class_id", "text_storage_ids", "purged_by", "cause", "reason", "purged_at")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    PURGED_BY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    text_storage_ids: _containers.RepeatedScalarFieldContainer[str]
    purged_by: str
    cause: str
    reason: str
    purged_at: _timestamp_pb2.Timestamp
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., text_storage_ids: _Optional[_Iterable[str]] = ..., purged_by: _Optional[str] = ..., cause: _Optional[str] = ..., reason: _Optional[str] = ..., purged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
