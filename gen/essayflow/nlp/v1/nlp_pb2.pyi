from buf.validate import validate_pb2 as _validate_pb2
from essayflow.common.v1 import common_pb2 as _common_pb2
from essayflow.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EssayText(_message.Message):
    __slots__ = ("essay_id", "file_name", "text")
    ESSAY_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    essay_id: str
    file_name: str
    text: str
    def __init__(self, essay_id: _Optional[str] = ..., file_name: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class MatchAuthorsRequest(_message.Message):
    __slots__ = ("roster", "essays")
    ROSTER_FIELD_NUMBER: _ClassVar[int]
    ESSAYS_FIELD_NUMBER: _ClassVar[int]
    roster: _containers.RepeatedCompositeFieldContainer[_common_pb2.Student]
    essays: _containers.RepeatedCompositeFieldContainer[EssayText]
    def __init__(self, roster: _Optional[_Iterable[_Union[_common_pb2.Student, _Mapping]]] = ..., essays: _Optional[_Iterable[_Union[EssayText, _Mapping]]] = ...) -> None: ...

class MatchAuthorsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.EssayMatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[_common_pb2.EssayMatchResult, _Mapping]]] = ...) -> None: ...
