// A NATS subscriber with nothing but the generated types: reads the event stream from its start,
// decodes every envelope and its payload, checks the envelope against the payload's declared
// subject and type, and prints one JSON line per event of the given batches (proto3 JSON,
// payload expanded), for the Python side to compare with what it published.
// Usage: node subscriber.js BATCH_ID... ; environment: NATS_URL, STREAM.
import { createRegistry, fromBinary, getOption, toJson } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { connect, DeliverPolicy } from "nats";

import { file_essayflow_common_v1_options, event_subject } from "../gen/essayflow/common/v1/options_pb.js";
import { file_essayflow_events_v1_bos_events } from "../gen/essayflow/events/v1/bos_events_pb.js";
import { file_essayflow_events_v1_cms_events } from "../gen/essayflow/events/v1/cms_events_pb.js";
import { file_essayflow_events_v1_els_events } from "../gen/essayflow/events/v1/els_events_pb.js";
import { EventEnvelopeSchema, file_essayflow_events_v1_envelope } from "../gen/essayflow/events/v1/envelope_pb.js";
import { file_essayflow_events_v1_file_events } from "../gen/essayflow/events/v1/file_events_pb.js";
import { file_essayflow_events_v1_nlp_events } from "../gen/essayflow/events/v1/nlp_events_pb.js";
import { env } from "./rpc.js";

const registry = createRegistry(
  file_essayflow_common_v1_options,
  file_essayflow_events_v1_envelope,
  file_essayflow_events_v1_bos_events,
  file_essayflow_events_v1_cms_events,
  file_essayflow_events_v1_els_events,
  file_essayflow_events_v1_file_events,
  file_essayflow_events_v1_nlp_events,
);

async function main(): Promise<void> {
  const batches = new Set(process.argv.slice(2));
  const nc = await connect({ servers: env("NATS_URL") });
  try {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    const stream = env("STREAM");
    const last = (await jsm.streams.info(stream)).state.last_seq;
    // An ordered consumer of every subject, from the first message kept.
    const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    let decoded = 0;
    for await (const m of messages) {
      const envelope = fromBinary(EventEnvelopeSchema, m.data);
      if (!envelope.payload) throw new Error(`seq ${m.seq}: an envelope without a payload`);
      const payload = anyUnpack(envelope.payload, registry);
      if (!payload) throw new Error(`seq ${m.seq}: unknown payload type ${envelope.payload.typeUrl}`);
      const desc = registry.getMessage(payload.$typeName)!;
      if (envelope.eventType !== desc.typeName) {
        throw new Error(`seq ${m.seq}: event_type ${envelope.eventType} but the payload is ${desc.typeName}`);
      }
      if (getOption(desc, event_subject) !== m.subject) {
        throw new Error(`seq ${m.seq}: ${desc.typeName} on ${m.subject}, declared ${getOption(desc, event_subject)}`);
      }
      decoded += 1;
      const batchId = (payload as { batchId?: string }).batchId;
      if (batchId !== undefined && batches.has(batchId)) {
        const line = { seq: m.seq, subject: m.subject, envelope: toJson(EventEnvelopeSchema, envelope, { registry }) };
        process.stdout.write(JSON.stringify(line) + "\n");
      }
      if (m.seq >= last) break;
    }
    process.stderr.write(`decoded ${decoded} events\n`);
  } finally {
    await nc.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
