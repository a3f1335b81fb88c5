// gRPC clients of the essayflow services over Connect's gRPC transport, with the caller's token,
// and every request checked against its buf.validate rules before it is sent.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { BatchOrchestratorService } from "../gen/essayflow/bos/v1/bos_pb.js";
import { ClassManagementService } from "../gen/essayflow/cms/v1/cms_pb.js";
import { EssayLifecycleService } from "../gen/essayflow/els/v1/els_pb.js";

export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const validator = createValidator();

export class InvalidRequest extends Error {
  constructor(readonly fields: string[], message: string) {
    super(message);
  }
}

/** The request, built and checked against the rules its proto declares (buf.validate). */
export function checked<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): MessageShape<Desc> {
  const message = create(schema, init);
  const result = validator.validate(schema, message);
  if (result.kind === "invalid") {
    const fields = result.violations.map((v) => pathToString(v.field));
    throw new InvalidRequest(fields, `${schema.typeName} is invalid: ${result.violations.map(String).join("; ")}`);
  }
  if (result.kind === "error") throw result.error;
  return message;
}

export interface Services {
  bos: Client<typeof BatchOrchestratorService>;
  els: Client<typeof EssayLifecycleService>;
  cms: Client<typeof ClassManagementService>;
}

export function services(token: string): Services {
  const bearer: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return await next(req);
  };
  const transport = (address: string) =>
    createGrpcTransport({ baseUrl: `http://${address}`, interceptors: [bearer] });
  return {
    bos: createClient(BatchOrchestratorService, transport(env("BOS"))),
    els: createClient(EssayLifecycleService, transport(env("ELS"))),
    cms: createClient(ClassManagementService, transport(env("CMS"))),
  };
}
