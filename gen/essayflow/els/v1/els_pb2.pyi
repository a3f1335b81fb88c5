from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProvisionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVISION_OUTCOME_UNSPECIFIED: _ClassVar[ProvisionOutcome]
    PROVISION_OUTCOME_BOUND: _ClassVar[ProvisionOutcome]
    PROVISION_OUTCOME_DUPLICATE: _ClassVar[ProvisionOutcome]
    PROVISION_OUTCOME_PENDING_REGISTRATION: _ClassVar[ProvisionOutcome]
    PROVISION_OUTCOME_EXCESS: _ClassVar[ProvisionOutcome]
PROVISION_OUTCOME_UNSPECIFIED: ProvisionOutcome
PROVISION_OUTCOME_BOUND: ProvisionOutcome
PROVISION_OUTCOME_DUPLICATE: ProvisionOutcome
PROVISION_OUTCOME_PENDING_REGISTRATION: ProvisionOutcome
PROVISION_OUTCOME_EXCESS: ProvisionOutcome

class ProvisionEssayRequest(_message.Message):
    __slots__ = ("batch_id", "file_name", "content", "file_upload_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    file_name: str
    content: bytes
    file_upload_id: str
    def __init__(self, batch_id: _Optional[str] = ..., file_name: _Optional[str] = ..., content: _Optional[bytes] = ..., file_upload_id: _Optional[str] = ...) -> None: ...

class ProvisionEssayResponse(_message.Message):
    __slots__ = ("outcome", "essay_id", "text_storage_id")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    outcome: ProvisionOutcome
    essay_id: str
    text_storage_id: str
    def __init__(self, outcome: _Optional[_Union[ProvisionOutcome, str]] = ..., essay_id: _Optional[str] = ..., text_storage_id: _Optional[str] = ...) -> None: ...

class GetBatchSlotsRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("essay_id", "status", "file_name", "text_storage_id", "error_code")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    status: _common_pb2.EssayStatus
    file_name: str
    text_storage_id: str
    error_code: _common_pb2.EssayValidationErrorCode
    def __init__(self, essay_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.EssayStatus, str]] = ..., file_name: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., error_code: _Optional[_Union[_common_pb2.EssayValidationErrorCode, str]] = ...) -> None: ...

class GetBatchSlotsResponse(_message.Message):
    __slots__ = ("batch_id", "expected_essay_count", "slots", "excess_count", "completed", "pending_count")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ESSAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    EXCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    expected_essay_count: int
    slots: _containers.RepeatedCompositeFieldContainer[Slot]
    excess_count: int
    completed: bool
    pending_count: int
    def __init__(self, batch_id: _Optional[str] = ..., expected_essay_count: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[Slot, _Mapping]]] = ..., excess_count: _Optional[int] = ..., completed: _Optional[bool] = ..., pending_count: _Optional[int] = ...) -> None: ...
