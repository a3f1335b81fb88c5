"""Prints the API reference (docs/api.md), generated from the proto descriptors and their comments.

``make proto`` writes it and ``make proto-check`` fails when it drifts from proto/. The source is
``gen/essayflow/descriptors.binpb`` (every file with its source info, as ``make proto`` builds it):
comments come from there, roles and errors from the ``allowed_roles`` and ``errors`` method
options, subjects, producers and consumers from the event options."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import descriptor_pb2

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import options_pb2
from essayflow.els.v1 import els_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import contracts, field_rules
from essayflow_runtime.reflection_source import descriptor_set

# Every method may answer these besides the ones it declares.
COMMON_ERRORS = (
    "UNAUTHENTICATED MISSING_TOKEN / TOKEN_INVALID / TOKEN_EXPIRED: no bearer token, or not one of ours",
    "PERMISSION_DENIED ROLE_NOT_ALLOWED: the token's role is not one the method allows",
    "INVALID_ARGUMENT INVALID_ARGUMENT: a field breaks its rules (google.rpc.BadRequest names each field)",
    "RESOURCE_EXHAUSTED: the request is larger than the server's message limit",
    "UNAVAILABLE DEPENDENCY_UNAVAILABLE: PostgreSQL, NATS or a peer service is down; retry later",
    "INTERNAL INTERNAL: a bug; the message carries an error id that the service's log has too",
)

_MESSAGE, _ENUM, _SERVICE = 4, 5, 6
_FIELD, _NESTED, _METHOD, _VALUE = 2, 3, 2, 2

_SCALARS = {
    getattr(descriptor_pb2.FieldDescriptorProto, name): name.removeprefix("TYPE_").lower()
    for name in descriptor_pb2.FieldDescriptorProto.Type.keys()  # noqa: SIM118 (an enum wrapper, not a dict)
}


def _essayflow_files() -> list[descriptor_pb2.FileDescriptorProto]:
    return sorted((f for f in descriptor_set().values() if f.package.startswith("essayflow.")), key=lambda f: f.name)


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found = {}
    for location in file.source_code_info.location:
        text = location.leading_comments.strip()
        if text:
            found[tuple(location.path)] = " ".join(line.strip() for line in text.splitlines())
    return found


def _type_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.type_name:
        name = field.type_name.lstrip(".")
        return f"[`{name.rsplit('.', 1)[-1]}`](#{_anchor(name)})" if name.startswith("essayflow.") else f"`{name}`"
    return f"`{_SCALARS[field.type]}`"


def _anchor(full_name: str) -> str:
    return full_name.replace(".", "").lower()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _fields_table(
    package: str, message: descriptor_pb2.DescriptorProto, path: tuple[int, ...], comments: dict[tuple[int, ...], str]
) -> Iterator[str]:
    if not message.field:
        yield "No fields."
        return
    yield "| field | type | rules | meaning |"
    yield "|---|---|---|---|"
    full = f"{package}.{message.name}"
    for index, field in enumerate(message.field):
        label = "repeated " if field.label == field.LABEL_REPEATED else ""
        if field.proto3_optional:
            label = "optional "
        rules = "; ".join(field_rules.describe(full, field.name))
        yield (
            f"| `{field.name}` = {field.number} | {label}{_type_name(field)} | {_cell(rules)} | "
            f"{_cell(comments.get((*path, _FIELD, index), ''))} |"
        )


def _messages(
    package: str, messages: list[descriptor_pb2.DescriptorProto], path: tuple[int, ...], prefix: str
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]]:
    for index, message in enumerate(messages):
        here = (*path, index)
        yield f"{prefix}{message.name}", message, here
        yield from _messages(package, list(message.nested_type), (*here, _NESTED), f"{prefix}{message.name}.")


def api_reference() -> str:
    # The generated modules put every message in the default pool, where the field rules are read.
    assert bos_pb2 and cms_pb2 and els_pb2 and nlp_pb2 and contracts.event_types()
    files = _essayflow_files()
    lines = [
        "# API reference",
        "",
        "Generated from the proto descriptors and their comments by `make proto` (`essayflow_cli/apidoc.py`);",
        "do not edit. Every RPC needs a bearer token whose role is one the method allows. Field rules are",
        "the `buf.validate` annotations: the servers check them before a handler runs (INVALID_ARGUMENT with",
        "a google.rpc.BadRequest naming each field) and so can a client, before it sends.",
        "",
        "Every method may also answer:",
        "",
        *[f"- {error}" for error in COMMON_ERRORS],
        "",
        "## Services",
        "",
    ]
    for file in files:
        comments = _comments(file)
        for s_index, service in enumerate(file.service):
            lines += [f"### `{file.package}.{service.name}`", "", comments.get((_SERVICE, s_index), ""), ""]
            for m_index, method in enumerate(service.method):
                options = method.options
                roles = list(options.Extensions[options_pb2.allowed_roles])
                errors = list(options.Extensions[options_pb2.errors])
                request, response = method.input_type.lstrip("."), method.output_type.lstrip(".")
                stream = "stream " if method.server_streaming else ""
                lines += [
                    f"#### {method.name}",
                    "",
                    comments.get((_SERVICE, s_index, _METHOD, m_index), ""),
                    "",
                    f"- request: [`{request.rsplit('.', 1)[-1]}`](#{_anchor(request)})",
                    f"- response: {stream}[`{response.rsplit('.', 1)[-1]}`](#{_anchor(response)})",
                    f"- roles: {', '.join(roles) if roles else 'nobody'}",
                    "- errors:" + ("" if errors else " only the common ones"),
                    *[f"  - {error}" for error in errors],
                    "",
                ]
    lines += ["## Events", "", "Each is the payload of an `essayflow.events.v1.EventEnvelope` on its subject.", ""]
    for file in files:
        comments = _comments(file)
        for name, message, path in _messages(file.package, list(file.message_type), (_MESSAGE,), ""):
            subject = message.options.Extensions[options_pb2.event_subject]
            if not subject:
                continue
            consumers = ", ".join(message.options.Extensions[options_pb2.event_consumers]) or "(clients, tracing)"
            lines += [
                f"### {name} (event)",
                "",
                comments.get(path, ""),
                "",
                f"- subject: `{subject}`",
                f"- producer: {message.options.Extensions[options_pb2.event_producer]}",
                f"- consumers: {consumers}",
                f"- payload: [`{name}`](#{_anchor(f'{file.package}.{name}')})",
                "",
            ]
    lines += ["## Messages", ""]
    for file in files:
        comments = _comments(file)
        for name, message, path in _messages(file.package, list(file.message_type), (_MESSAGE,), ""):
            lines += [f"### {file.package}.{name}", "", comments.get(path, ""), ""]
            lines += [*_fields_table(file.package, message, path, comments), ""]
    lines += ["## Enums", ""]
    for file in files:
        comments = _comments(file)
        for e_index, enum in enumerate(file.enum_type):
            lines += [f"### {file.package}.{enum.name}", "", comments.get((_ENUM, e_index), ""), ""]
            lines += ["| value | number | meaning |", "|---|---|---|"]
            for v_index, value in enumerate(enum.value):
                meaning = comments.get((_ENUM, e_index, _VALUE, v_index), "")
                lines.append(f"| `{value.name}` | {value.number} | {_cell(meaning)} |")
            lines.append("")
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def main() -> None:
    print(api_reference(), end="")


if __name__ == "__main__":
    main()
