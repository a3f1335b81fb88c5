"""Prints the table of every NATS subject, generated from the proto declarations.

``make proto`` writes it to docs/subjects.md and ``make proto-check`` fails when
that file drifts from proto/."""

from __future__ import annotations

from essayflow_runtime import contracts


def subjects_table() -> str:
    lines = [
        "# Event subjects",
        "",
        "Generated from the `event_subject`, `event_producer` and `event_consumers` options in",
        "`proto/essayflow/events/v1/` by `make proto`; do not edit. Every message is an",
        "`essayflow.events.v1.EventEnvelope` whose `payload` holds the message type below.",
        "",
        "| subject | message type | producer | consumers |",
        "|---|---|---|---|",
    ]
    for event in sorted(contracts.event_types().values(), key=lambda e: e.subject):
        consumers = ", ".join(event.consumers) or "(clients, tracing)"
        lines.append(f"| `{event.subject}` | `{event.full_name}` | {event.producer} | {consumers} |")
    lines += [
        f"| `{contracts.DLQ_SUBJECT_PREFIX}.<service>` | the original message, unchanged | "
        "the consuming service | operators (`essayflow events tail --dlq`) |",
        f"| `{contracts.REDRIVE_SUBJECT_PREFIX}.<durable>` | a dead letter's original message | "
        "`essayflow events redrive` | the consumer that dead-lettered it (as if on its original subject) |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    print(subjects_table(), end="")


if __name__ == "__main__":
    main()
