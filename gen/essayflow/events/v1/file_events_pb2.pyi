from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EssayContentProvisioned(_message.Message):
    __slots__ = ("batch_id", "file_name", "text_storage_id", "text_length", "file_upload_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    file_name: str
    text_storage_id: str
    text_length: int
    file_upload_id: str
    def __init__(self, batch_id: _Optional[str] = ..., file_name: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., text_length: _Optional[int] = ..., file_upload_id: _Optional[str] = ...) -> None: ...

class EssayValidationFailed(_message.Message):
    __slots__ = ("batch_id", "file_name", "error_code", "message", "file_upload_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILE_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    file_name: str
    error_code: _common_pb2.EssayValidationErrorCode
    message: str
    file_upload_id: str
    def __init__(self, batch_id: _Optional[str] = ..., file_name: _Optional[str] = ..., error_code: _Optional[_Union[_common_pb2.EssayValidationErrorCode, str]] = ..., message: _Optional[str] = ..., file_upload_id: _Optional[str] = ...) -> None: ...
