// A NATS subscriber with nothing but the generated types: reads the event stream from its start,
// decodes every envelope and its payload, checks the envelope against the payload's declared
// subject and type, and prints one JSON line per event of the given batches (proto3 JSON,
// payload expanded), for the Python side to compare with what it published.
// Usage: node subscriber.js BATCH_ID... ; environment: NATS_URL, STREAM.
import { createRegistry, fromBinary, getOption, toJson } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { connect } from "nats";

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

/** The envelope and payload of one stream message, checked; its JSON when it is about one of `batches`. */
function decode(seq: number, subject: string, data: Uint8Array, batches: Set<string>): object | undefined {
  const envelope = fromBinary(EventEnvelopeSchema, data);
  if (!envelope.payload) throw new Error(`seq ${seq}: an envelope without a payload`);
  const payload = anyUnpack(envelope.payload, registry);
  if (!payload) throw new Error(`seq ${seq}: unknown payload type ${envelope.payload.typeUrl}`);
  const desc = registry.getMessage(payload.$typeName)!;
  if (envelope.eventType !== desc.typeName) {
    throw new Error(`seq ${seq}: event_type ${envelope.eventType} but the payload is ${desc.typeName}`);
  }
  if (getOption(desc, event_subject) !== subject) {
    throw new Error(`seq ${seq}: ${desc.typeName} on ${subject}, declared ${getOption(desc, event_subject)}`);
  }
  const batchId = (payload as { batchId?: string }).batchId;
  if (batchId === undefined || !batches.has(batchId)) return undefined;
  return { seq, subject, envelope: toJson(EventEnvelopeSchema, envelope, { registry }) };
}

async function main(): Promise<void> {
  const batches = new Set(process.argv.slice(2));
  const nc = await connect({ servers: env("NATS_URL") });
  try {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    const stream = env("STREAM");
    const last = (await jsm.streams.info(stream)).state.last_seq;
    // An ordered consumer of every subject, from the first message the stream keeps.
    const consumer = await js.consumers.get(stream);
    let decoded = 0;
    let seen = 0;
    while (seen < last) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: 256, expires: 2000 })) {
        got += 1;
        seen = m.seq;
        const line = decode(m.seq, m.subject, m.data, batches);
        decoded += 1;
        if (line) process.stdout.write(JSON.stringify(line) + "\n");
        if (m.seq >= last) break;
      }
      if (got === 0) throw new Error(`the stream ended at ${seen}, before ${last}`);
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
