// The GUEST flow and a REGULAR flow (class, roster, register, upload, validate, READY) against the
// running services. Prints {"guest", "regular", "refusedLocally", "ms"} as JSON on stdout.
// Environment: ESSAYFLOW_TOKEN (a teacher's), BOS, ELS, CMS (host:port).
import { ConnectError } from "@connectrpc/connect";

import {
  GetBatchRequestSchema,
  RegisterBatchRequestSchema,
  WatchBatchRequestSchema,
} from "../gen/essayflow/bos/v1/bos_pb.js";
import {
  AddStudentsRequestSchema,
  CreateClassRequestSchema,
  ListBatchAssociationsRequestSchema,
  ValidateAssociationsRequestSchema,
} from "../gen/essayflow/cms/v1/cms_pb.js";
import { BatchStatus, CourseCode } from "../gen/essayflow/common/v1/common_pb.js";
import { ProvisionEssayRequestSchema } from "../gen/essayflow/els/v1/els_pb.js";
import { checked, env, InvalidRequest, services, type Services } from "./rpc.js";

const ROSTER: [string, string][] = [
  ["Ingrid", "Halvorsen"],
  ["Tobias", "Lindqvist"],
  ["Maja", "Ek-Sandberg"],
];
const BODY =
  "Det här är min text om hösten. Löven faller och dagarna blir kortare, men jag tycker ändå " +
  "att hösten är den vackraste årstiden eftersom allt får nya färger. ";

function essay(first: string, last: string, n: number): Uint8Array {
  return new TextEncoder().encode(`Namn: ${first} ${last}\nKlass: 9B\n\n${BODY}Uppsats nummer ${n}.\n`);
}

/** Follows WatchBatch (a server stream) until the batch is READY_FOR_PIPELINE_EXECUTION. */
async function untilReady(s: Services, batchId: string): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  try {
    const request = checked(WatchBatchRequestSchema, { batchId });
    for await (const change of s.bos.watchBatch(request, { signal: controller.signal })) {
      if (change.batch?.status === BatchStatus.READY_FOR_PIPELINE_EXECUTION) return;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(`batch ${batchId} never became READY`);
}

async function upload(s: Services, batchId: string, texts: Uint8Array[]): Promise<void> {
  for (const [n, content] of texts.entries()) {
    await s.els.provisionEssay(checked(ProvisionEssayRequestSchema, { batchId, fileName: `ts-${n}.txt`, content }));
  }
}

async function guest(s: Services): Promise<string> {
  const registered = await s.bos.registerBatch(
    checked(RegisterBatchRequestSchema, { expectedEssayCount: 2, courseCode: CourseCode.SV1, title: "ts guest" }),
  );
  const batchId = registered.batch!.batchId;
  await upload(s, batchId, [essay("Anon", "Writer", 0), essay("Anon", "Writer", 1)]);
  await untilReady(s, batchId);
  return batchId;
}

async function regular(s: Services): Promise<string> {
  const created = await s.cms.createClass(
    checked(CreateClassRequestSchema, { name: "9B typescript", courseCode: CourseCode.SV1 }),
  );
  const classId = created.class!.classId;
  await s.cms.addStudents(
    checked(AddStudentsRequestSchema, {
      classId,
      students: ROSTER.map(([firstName, lastName]) => ({
        firstName,
        lastName,
        email: `${firstName}.${lastName}@skola.example`.toLowerCase(),
      })),
    }),
  );
  const registered = await s.bos.registerBatch(
    checked(RegisterBatchRequestSchema, { expectedEssayCount: ROSTER.length, courseCode: CourseCode.SV1, classId }),
  );
  const batchId = registered.batch!.batchId;
  await upload(s, batchId, ROSTER.map(([first, last], n) => essay(first, last, n)));
  const deadline = Date.now() + 60_000;
  let essayIds: string[] = [];
  while (essayIds.length < ROSTER.length) {
    if (Date.now() > deadline) throw new Error("the associations never appeared");
    try {
      const listed = await s.cms.listBatchAssociations(checked(ListBatchAssociationsRequestSchema, { batchId }));
      essayIds = listed.associations.map((a) => a.essayId);
    } catch (error) {
      if (!(error instanceof ConnectError) || error.code !== 5 /* NOT_FOUND */) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await s.cms.validateAssociations(
    checked(ValidateAssociationsRequestSchema, {
      batchId,
      decisions: essayIds.map((essayId) => ({ essayId, decision: { case: "confirm" as const, value: {} } })),
    }),
  );
  await s.bos.getBatch(checked(GetBatchRequestSchema, { batchId }));
  await untilReady(s, batchId);
  return batchId;
}

/** A request the rules refuse never leaves the client: the fields it names, as the server would. */
function refusedLocally(): string[] {
  try {
    checked(RegisterBatchRequestSchema, { expectedEssayCount: 0, courseCode: CourseCode.SV1, classId: "not-a-uuid" });
  } catch (error) {
    if (error instanceof InvalidRequest) return error.fields;
    throw error;
  }
  return [];
}

async function main(): Promise<void> {
  const s = services(env("ESSAYFLOW_TOKEN"));
  const started = Date.now();
  const guestId = await guest(s);
  const regularId = await regular(s);
  const result = { guest: guestId, regular: regularId, refusedLocally: refusedLocally(), ms: Date.now() - started };
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
