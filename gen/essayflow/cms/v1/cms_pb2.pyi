import datetime

from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchValidationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_VALIDATION_STATE_UNSPECIFIED: _ClassVar[BatchValidationState]
    BATCH_VALIDATION_STATE_AWAITING_VALIDATION: _ClassVar[BatchValidationState]
    BATCH_VALIDATION_STATE_CONFIRMED: _ClassVar[BatchValidationState]
BATCH_VALIDATION_STATE_UNSPECIFIED: BatchValidationState
BATCH_VALIDATION_STATE_AWAITING_VALIDATION: BatchValidationState
BATCH_VALIDATION_STATE_CONFIRMED: BatchValidationState

class Class(_message.Message):
    __slots__ = ("class_id", "owner_id", "name", "course_code", "auto_confirm_high_confidence", "created_at", "student_count")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONFIRM_HIGH_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STUDENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    owner_id: str
    name: str
    course_code: _common_pb2.CourseCode
    auto_confirm_high_confidence: bool
    created_at: _timestamp_pb2.Timestamp
    student_count: int
    def __init__(self, class_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., name: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., auto_confirm_high_confidence: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., student_count: _Optional[int] = ...) -> None: ...

class NewStudent(_message.Message):
    __slots__ = ("first_name", "last_name", "email")
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    first_name: str
    last_name: str
    email: str
    def __init__(self, first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class Association(_message.Message):
    __slots__ = ("essay_id", "batch_id", "class_id", "suggested_student", "student", "confidence_score", "confidence_level", "match_reasons", "status", "validation_method", "validated_by", "validated_at", "created_at", "file_name")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_STUDENT_FIELD_NUMBER: _ClassVar[int]
    STUDENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MATCH_REASONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_BY_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    batch_id: str
    class_id: str
    suggested_student: _common_pb2.Student
    student: _common_pb2.Student
    confidence_score: float
    confidence_level: _common_pb2.AssociationConfidenceLevel
    match_reasons: _containers.RepeatedCompositeFieldContainer[_common_pb2.MatchReason]
    status: _common_pb2.StudentAssociationStatus
    validation_method: _common_pb2.AssociationValidationMethod
    validated_by: str
    validated_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    file_name: str
    def __init__(self, essay_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., suggested_student: _Optional[_Union[_common_pb2.Student, _Mapping]] = ..., student: _Optional[_Union[_common_pb2.Student, _Mapping]] = ..., confidence_score: _Optional[float] = ..., confidence_level: _Optional[_Union[_common_pb2.AssociationConfidenceLevel, str]] = ..., match_reasons: _Optional[_Iterable[_Union[_common_pb2.MatchReason, _Mapping]]] = ..., status: _Optional[_Union[_common_pb2.StudentAssociationStatus, str]] = ..., validation_method: _Optional[_Union[_common_pb2.AssociationValidationMethod, str]] = ..., validated_by: _Optional[str] = ..., validated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., file_name: _Optional[str] = ...) -> None: ...

class CreateClassRequest(_message.Message):
    __slots__ = ("name", "course_code", "auto_confirm_high_confidence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COURSE_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONFIRM_HIGH_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    course_code: _common_pb2.CourseCode
    auto_confirm_high_confidence: bool
    def __init__(self, name: _Optional[str] = ..., course_code: _Optional[_Union[_common_pb2.CourseCode, str]] = ..., auto_confirm_high_confidence: _Optional[bool] = ...) -> None: ...

class CreateClassResponse(_message.Message):
    __slots__ = ()
    CLASS_FIELD_NUMBER: _ClassVar[int]
    def __init__(self, **kwargs) -> None: ...

class GetClassRequest(_message.Message):
    __slots__ = ("class_id",)
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    def __init__(self, class_id: _Optional[str] = ...) -> None: ...

class GetClassResponse(_message.Message):
    __slots__ = ()
    CLASS_FIELD_NUMBER: _ClassVar[int]
    def __init__(self, **kwargs) -> None: ...

class ListClassesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListClassesResponse(_message.Message):
    __slots__ = ("classes", "next_page_token")
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[Class]
    next_page_token: str
    def __init__(self, classes: _Optional[_Iterable[_Union[Class, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddStudentsRequest(_message.Message):
    __slots__ = ("class_id", "students")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    students: _containers.RepeatedCompositeFieldContainer[NewStudent]
    def __init__(self, class_id: _Optional[str] = ..., students: _Optional[_Iterable[_Union[NewStudent, _Mapping]]] = ...) -> None: ...

class AddStudentsResponse(_message.Message):
    __slots__ = ("students", "created_count", "existing_count")
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXISTING_COUNT_FIELD_NUMBER: _ClassVar[int]
    students: _containers.RepeatedCompositeFieldContainer[_common_pb2.Student]
    created_count: int
    existing_count: int
    def __init__(self, students: _Optional[_Iterable[_Union[_common_pb2.Student, _Mapping]]] = ..., created_count: _Optional[int] = ..., existing_count: _Optional[int] = ...) -> None: ...

class ListClassStudentsRequest(_message.Message):
    __slots__ = ("class_id",)
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    def __init__(self, class_id: _Optional[str] = ...) -> None: ...

class ListClassStudentsResponse(_message.Message):
    __slots__ = ("students",)
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    students: _containers.RepeatedCompositeFieldContainer[_common_pb2.Student]
    def __init__(self, students: _Optional[_Iterable[_Union[_common_pb2.Student, _Mapping]]] = ...) -> None: ...

class ListBatchAssociationsRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class ListBatchAssociationsResponse(_message.Message):
    __slots__ = ("batch_id", "class_id", "state", "validation_deadline", "associations")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATIONS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    state: BatchValidationState
    validation_deadline: _timestamp_pb2.Timestamp
    associations: _containers.RepeatedCompositeFieldContainer[Association]
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., state: _Optional[_Union[BatchValidationState, str]] = ..., validation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., associations: _Optional[_Iterable[_Union[Association, _Mapping]]] = ...) -> None: ...

class ConfirmDecision(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RejectDecision(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OverrideDecision(_message.Message):
    __slots__ = ("student_id",)
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    def __init__(self, student_id: _Optional[str] = ...) -> None: ...

class AssociationDecision(_message.Message):
    __slots__ = ("essay_id", "confirm", "reject", "override")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    confirm: ConfirmDecision
    reject: RejectDecision
    override: OverrideDecision
    def __init__(self, essay_id: _Optional[str] = ..., confirm: _Optional[_Union[ConfirmDecision, _Mapping]] = ..., reject: _Optional[_Union[RejectDecision, _Mapping]] = ..., override: _Optional[_Union[OverrideDecision, _Mapping]] = ...) -> None: ...

class ValidateAssociationsRequest(_message.Message):
    __slots__ = ("batch_id", "decisions")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[AssociationDecision]
    def __init__(self, batch_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[AssociationDecision, _Mapping]]] = ...) -> None: ...

class ValidateAssociationsResponse(_message.Message):
    __slots__ = ("associations", "batch_confirmed", "pending_count")
    ASSOCIATIONS_FIELD_NUMBER: _ClassVar[int]
    BATCH_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    associations: _containers.RepeatedCompositeFieldContainer[Association]
    batch_confirmed: bool
    pending_count: int
    def __init__(self, associations: _Optional[_Iterable[_Union[Association, _Mapping]]] = ..., batch_confirmed: _Optional[bool] = ..., pending_count: _Optional[int] = ...) -> None: ...

class GetBatchValidationRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class StatusCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.StudentAssociationStatus
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.StudentAssociationStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class GetBatchValidationResponse(_message.Message):
    __slots__ = ("batch_id", "class_id", "state", "validation_deadline", "counts", "confirmed_at", "timeout_triggered")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_AT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    state: BatchValidationState
    validation_deadline: _timestamp_pb2.Timestamp
    counts: _containers.RepeatedCompositeFieldContainer[StatusCount]
    confirmed_at: _timestamp_pb2.Timestamp
    timeout_triggered: bool
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., state: _Optional[_Union[BatchValidationState, str]] = ..., validation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ..., confirmed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeout_triggered: _Optional[bool] = ...) -> None: ...
