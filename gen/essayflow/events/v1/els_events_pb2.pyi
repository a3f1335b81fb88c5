from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from essayflow.events.v1 import bos_events_pb2 as _bos_events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EssaySlotAssigned(_message.Message):
    __slots__ = ("batch_id", "essay_id", "file_name", "text_storage_id", "file_upload_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    essay_id: str
    file_name: str
    text_storage_id: str
    file_upload_id: str
    def __init__(self, batch_id: _Optional[str] = ..., essay_id: _Optional[str] = ..., file_name: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., file_upload_id: _Optional[str] = ...) -> None: ...

class ExcessContentProvisioned(_message.Message):
    __slots__ = ("batch_id", "file_name", "text_storage_id", "file_upload_id", "expected_essay_count")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    file_name: str
    text_storage_id: str
    file_upload_id: str
    expected_essay_count: int
    def __init__(self, batch_id: _Optional[str] = ..., file_name: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., file_upload_id: _Optional[str] = ..., expected_essay_count: _Optional[int] = ...) -> None: ...

class FailedUpload(_message.Message):
    __slots__ = ("essay_id", "file_name", "error_code", "message")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    file_name: str
    error_code: _common_pb2.EssayValidationErrorCode
    message: str
    def __init__(self, essay_id: _Optional[str] = ..., file_name: _Optional[str] = ..., error_code: _Optional[_Union[_common_pb2.EssayValidationErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class BatchContentProvisioningCompleted(_message.Message):
    __slots__ = ("batch_id", "stored_essays", "failed_uploads", "expected_essay_count", "class_id", "course_code")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_ESSAYS_FIELD_NUMBER: _ClassVar[int]
    FAILED_UPLOADS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored_essays: _containers.RepeatedCompositeFieldContainer[_common_pb2.EssayRef]
    failed_uploads: _containers.RepeatedCompositeFieldContainer[FailedUpload]
    expected_essay_count: int
    class_id: str
    course_code: _common_pb2.CourseCode
    def __init__(self, batch_id: _Optional[str] = ..., stored_essays: _Optional[_Iterable[_Union[_common_pb2.EssayRef, _Mapping]]] = ..., failed_uploads: _Optional[_Iterable[_Union[FailedUpload, _Mapping]]] = ..., expected_essay_count: _Optional[int] = ..., class_id: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ...) -> None: ...

class BatchStudentMatchingRequested(_message.Message):
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

class BatchEssaysReady(_message.Message):
    __slots__ = ("batch_id", "class_id", "course_code", "essays")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    ESSAYS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    course_code: _common_pb2.CourseCode
    essays: _containers.RepeatedCompositeFieldContainer[_bos_events_pb2.ReadyEssay]
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., essays: _Optional[_Iterable[_Union[_bos_events_pb2.ReadyEssay, _Mapping]]] = ...) -> None: ...
