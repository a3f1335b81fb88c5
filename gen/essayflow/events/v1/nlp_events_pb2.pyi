from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchAuthorMatchesSuggested(_message.Message):
    __slots__ = ("batch_id", "class_id", "course_code", "results")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    course_code: _common_pb2.CourseCode
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.EssayMatchResult]
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., results: _Optional[_Iterable[_Union[_common_pb2.EssayMatchResult, _Mapping]]] = ...) -> None: ...
