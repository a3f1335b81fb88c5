from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STATUS_UNSPECIFIED: _ClassVar[BatchStatus]
    BATCH_STATUS_AWAITING_CONTENT_VALIDATION: _ClassVar[BatchStatus]
    BATCH_STATUS_CONTENT_INGESTION_FAILED: _ClassVar[BatchStatus]
    BATCH_STATUS_AWAITING_STUDENT_VALIDATION: _ClassVar[BatchStatus]
    BATCH_STATUS_STUDENT_VALIDATION_COMPLETED: _ClassVar[BatchStatus]
    BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION: _ClassVar[BatchStatus]
    BATCH_STATUS_PROCESSING_PIPELINES: _ClassVar[BatchStatus]
    BATCH_STATUS_COMPLETED_SUCCESSFULLY: _ClassVar[BatchStatus]
    BATCH_STATUS_COMPLETED_WITH_FAILURES: _ClassVar[BatchStatus]
    BATCH_STATUS_FAILED_CRITICALLY: _ClassVar[BatchStatus]
    BATCH_STATUS_CANCELLED: _ClassVar[BatchStatus]

class EssayStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESSAY_STATUS_UNSPECIFIED: _ClassVar[EssayStatus]
    ESSAY_STATUS_AWAITING_CONTENT: _ClassVar[EssayStatus]
    ESSAY_STATUS_UPLOADED: _ClassVar[EssayStatus]
    ESSAY_STATUS_READY_FOR_PROCESSING: _ClassVar[EssayStatus]
    ESSAY_STATUS_VALIDATION_FAILED: _ClassVar[EssayStatus]

class StudentAssociationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDENT_ASSOCIATION_STATUS_UNSPECIFIED: _ClassVar[StudentAssociationStatus]
    STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION: _ClassVar[StudentAssociationStatus]
    STUDENT_ASSOCIATION_STATUS_CONFIRMED: _ClassVar[StudentAssociationStatus]
    STUDENT_ASSOCIATION_STATUS_REJECTED: _ClassVar[StudentAssociationStatus]
    STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED: _ClassVar[StudentAssociationStatus]
    STUDENT_ASSOCIATION_STATUS_NO_MATCH: _ClassVar[StudentAssociationStatus]

class AssociationValidationMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSOCIATION_VALIDATION_METHOD_UNSPECIFIED: _ClassVar[AssociationValidationMethod]
    ASSOCIATION_VALIDATION_METHOD_HUMAN: _ClassVar[AssociationValidationMethod]
    ASSOCIATION_VALIDATION_METHOD_TIMEOUT: _ClassVar[AssociationValidationMethod]
    ASSOCIATION_VALIDATION_METHOD_AUTO: _ClassVar[AssociationValidationMethod]

class AssociationConfidenceLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSOCIATION_CONFIDENCE_LEVEL_UNSPECIFIED: _ClassVar[AssociationConfidenceLevel]
    ASSOCIATION_CONFIDENCE_LEVEL_HIGH: _ClassVar[AssociationConfidenceLevel]
    ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM: _ClassVar[AssociationConfidenceLevel]
    ASSOCIATION_CONFIDENCE_LEVEL_LOW: _ClassVar[AssociationConfidenceLevel]
    ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH: _ClassVar[AssociationConfidenceLevel]

class BatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_TYPE_UNSPECIFIED: _ClassVar[BatchType]
    BATCH_TYPE_GUEST: _ClassVar[BatchType]
    BATCH_TYPE_REGULAR: _ClassVar[BatchType]

class CourseCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COURSE_CODE_UNSPECIFIED: _ClassVar[CourseCode]
    COURSE_CODE_ENG5: _ClassVar[CourseCode]
    COURSE_CODE_ENG6: _ClassVar[CourseCode]
    COURSE_CODE_ENG7: _ClassVar[CourseCode]
    COURSE_CODE_SV1: _ClassVar[CourseCode]
    COURSE_CODE_SV2: _ClassVar[CourseCode]
    COURSE_CODE_SV3: _ClassVar[CourseCode]

class EssayValidationErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_EMPTY_CONTENT: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_LONG: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_TEXT_EXTRACTION_FAILED: _ClassVar[EssayValidationErrorCode]
    ESSAY_VALIDATION_ERROR_CODE_OTHER: _ClassVar[EssayValidationErrorCode]

class NoMatchReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NO_MATCH_REASON_UNSPECIFIED: _ClassVar[NoMatchReason]
    NO_MATCH_REASON_NO_CANDIDATES: _ClassVar[NoMatchReason]
    NO_MATCH_REASON_NOT_IN_ROSTER: _ClassVar[NoMatchReason]
    NO_MATCH_REASON_TEXT_UNAVAILABLE: _ClassVar[NoMatchReason]
    NO_MATCH_REASON_ROSTER_UNAVAILABLE: _ClassVar[NoMatchReason]
    NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED: _ClassVar[NoMatchReason]
BATCH_STATUS_UNSPECIFIED: BatchStatus
BATCH_STATUS_AWAITING_CONTENT_VALIDATION: BatchStatus
BATCH_STATUS_CONTENT_INGESTION_FAILED: BatchStatus
BATCH_STATUS_AWAITING_STUDENT_VALIDATION: BatchStatus
BATCH_STATUS_STUDENT_VALIDATION_COMPLETED: BatchStatus
BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION: BatchStatus
BATCH_STATUS_PROCESSING_PIPELINES: BatchStatus
BATCH_STATUS_COMPLETED_SUCCESSFULLY: BatchStatus
BATCH_STATUS_COMPLETED_WITH_FAILURES: BatchStatus
BATCH_STATUS_FAILED_CRITICALLY: BatchStatus
BATCH_STATUS_CANCELLED: BatchStatus
ESSAY_STATUS_UNSPECIFIED: EssayStatus
ESSAY_STATUS_AWAITING_CONTENT: EssayStatus
ESSAY_STATUS_UPLOADED: EssayStatus
ESSAY_STATUS_READY_FOR_PROCESSING: EssayStatus
ESSAY_STATUS_VALIDATION_FAILED: EssayStatus
STUDENT_ASSOCIATION_STATUS_UNSPECIFIED: StudentAssociationStatus
STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION: StudentAssociationStatus
STUDENT_ASSOCIATION_STATUS_CONFIRMED: StudentAssociationStatus
STUDENT_ASSOCIATION_STATUS_REJECTED: StudentAssociationStatus
STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED: StudentAssociationStatus
STUDENT_ASSOCIATION_STATUS_NO_MATCH: StudentAssociationStatus
ASSOCIATION_VALIDATION_METHOD_UNSPECIFIED: AssociationValidationMethod
ASSOCIATION_VALIDATION_METHOD_HUMAN: AssociationValidationMethod
ASSOCIATION_VALIDATION_METHOD_TIMEOUT: AssociationValidationMethod
ASSOCIATION_VALIDATION_METHOD_AUTO: AssociationValidationMethod
ASSOCIATION_CONFIDENCE_LEVEL_UNSPECIFIED: AssociationConfidenceLevel
ASSOCIATION_CONFIDENCE_LEVEL_HIGH: AssociationConfidenceLevel
ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM: AssociationConfidenceLevel
ASSOCIATION_CONFIDENCE_LEVEL_LOW: AssociationConfidenceLevel
ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH: AssociationConfidenceLevel
BATCH_TYPE_UNSPECIFIED: BatchType
BATCH_TYPE_GUEST: BatchType
BATCH_TYPE_REGULAR: BatchType
COURSE_CODE_UNSPECIFIED: CourseCode
COURSE_CODE_ENG5: CourseCode
COURSE_CODE_ENG6: CourseCode
COURSE_CODE_ENG7: CourseCode
COURSE_CODE_SV1: CourseCode
COURSE_CODE_SV2: CourseCode
COURSE_CODE_SV3: CourseCode
ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_EMPTY_CONTENT: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_LONG: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_TEXT_EXTRACTION_FAILED: EssayValidationErrorCode
ESSAY_VALIDATION_ERROR_CODE_OTHER: EssayValidationErrorCode
NO_MATCH_REASON_UNSPECIFIED: NoMatchReason
NO_MATCH_REASON_NO_CANDIDATES: NoMatchReason
NO_MATCH_REASON_NOT_IN_ROSTER: NoMatchReason
NO_MATCH_REASON_TEXT_UNAVAILABLE: NoMatchReason
NO_MATCH_REASON_ROSTER_UNAVAILABLE: NoMatchReason
NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED: NoMatchReason

class EssayRef(_message.Message):
    __slots__ = ("essay_id", "text_storage_id", "file_name")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_STORAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    text_storage_id: str
    file_name: str
    def __init__(self, essay_id: _Optional[str] = ..., text_storage_id: _Optional[str] = ..., file_name: _Optional[str] = ...) -> None: ...

class Student(_message.Message):
    __slots__ = ("student_id", "first_name", "last_name", "email")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    first_name: str
    last_name: str
    email: str
    def __init__(self, student_id: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class MatchReason(_message.Message):
    __slots__ = ("signal", "matched", "value", "score")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    signal: str
    matched: str
    value: str
    score: float
    def __init__(self, signal: _Optional[str] = ..., matched: _Optional[str] = ..., value: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class AuthorSuggestion(_message.Message):
    __slots__ = ("student", "confidence_score", "confidence_level", "match_reasons")
    STUDENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MATCH_REASONS_FIELD_NUMBER: _ClassVar[int]
    student: Student
    confidence_score: float
    confidence_level: AssociationConfidenceLevel
    match_reasons: _containers.RepeatedCompositeFieldContainer[MatchReason]
    def __init__(self, student: _Optional[_Union[Student, _Mapping]] = ..., confidence_score: _Optional[float] = ..., confidence_level: _Optional[_Union[AssociationConfidenceLevel, str]] = ..., match_reasons: _Optional[_Iterable[_Union[MatchReason, _Mapping]]] = ...) -> None: ...

class EssayMatchResult(_message.Message):
    __slots__ = ("essay_id", "suggestions", "no_match_reason", "detail")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    NO_MATCH_REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    suggestions: _containers.RepeatedCompositeFieldContainer[AuthorSuggestion]
    no_match_reason: NoMatchReason
    detail: str
    def __init__(self, essay_id: _Optional[str] = ..., suggestions: _Optional[_Iterable[_Union[AuthorSuggestion, _Mapping]]] = ..., no_match_reason: _Optional[_Union[NoMatchReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...
