from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class Language(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LANGUAGE_UNSPECIFIED: _ClassVar[Language]
    LANGUAGE_EN: _ClassVar[Language]
    LANGUAGE_SV: _ClassVar[Language]
LANGUAGE_UNSPECIFIED: Language
LANGUAGE_EN: Language
LANGUAGE_SV: Language
EVENT_SUBJECT_FIELD_NUMBER: _ClassVar[int]
event_subject: _descriptor.FieldDescriptor
EVENT_PRODUCER_FIELD_NUMBER: _ClassVar[int]
event_producer: _descriptor.FieldDescriptor
EVENT_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
event_consumers: _descriptor.FieldDescriptor
COURSE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
course_language: _descriptor.FieldDescriptor
COURSE_NAME_FIELD_NUMBER: _ClassVar[int]
course_name: _descriptor.FieldDescriptor
COURSE_LEVEL_FIELD_NUMBER: _ClassVar[int]
course_level: _descriptor.FieldDescriptor
ALLOWED_ROLES_FIELD_NUMBER: _ClassVar[int]
allowed_roles: _descriptor.FieldDescriptor
ERRORS_FIELD_NUMBER: _ClassVar[int]
errors: _descriptor.FieldDescriptor
MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
max_length: _descriptor.FieldDescriptor
MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
max_items: _descriptor.FieldDescriptor
MULTILINE_FIELD_NUMBER: _ClassVar[int]
multiline: _descriptor.FieldDescriptor
