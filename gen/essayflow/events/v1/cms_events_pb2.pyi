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

class ConfirmedAssociation(_message.Message):
    __slots__ = ("essay_id", "student_id", "confidence_score", "validation_method", "validated_by", "validated_at", "status")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_BY_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    student_id: str
    confidence_score: float
    validation_method: _common_pb2.AssociationValidationMethod
    validated_by: str
    validated_at: _timestamp_pb2.Timestamp
    status: _common_pb2.StudentAssociationStatus
    def __init__(self, essay_id: _Optional[str] = ..., student_id: _Optional[str] = ..., confidence_score: _Optional[float] = ..., validation_method: _Optional[_Union[_common_pb2.AssociationValidationMethod, str]] = ..., validated_by: _Optional[str] = ..., validated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[_common_pb2.StudentAssociationStatus, str]] = ...) -> None: ...

class ValidationMethodCount(_message.Message):
    __slots__ = ("validation_method", "count")
    VALIDATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    validation_method: _common_pb2.AssociationValidationMethod
    count: int
    def __init__(self, validation_method: _Optional[_Union[_common_pb2.AssociationValidationMethod, str]] = ..., count: _Optional[int] = ...) -> None: ...

class StudentAssociationsConfirmed(_message.Message):
    __slots__ = ("batch_id", "class_id", "course_code", "associations", "timeout_triggered", "summary", "confirmed_at")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATIONS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_AT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    course_code: _common_pb2.CourseCode
    associations: _containers.RepeatedCompositeFieldContainer[ConfirmedAssociation]
    timeout_triggered: bool
    summary: _containers.RepeatedCompositeFieldContainer[ValidationMethodCount]
    confirmed_at: _timestamp_pb2.Timestamp
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., associations: _Optional[_Iterable[_Union[ConfirmedAssociation, _Mapping]]] = ..., timeout_triggered: _Optional[bool] = ..., summary: _Optional[_Iterable[_Union[ValidationMethodCount, _Mapping]]] = ..., confirmed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
