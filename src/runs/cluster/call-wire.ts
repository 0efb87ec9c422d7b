/**
 * @module What travels between the nodes of a cluster about one call, and its encoding: the job's
 * payload (API node → worker, through graphile-worker) and the call's result (worker → the API
 * node waiting for it, through nbhook_call_results). Parameters may hold ints beyond 2^53 (bigint),
 * which JSON cannot carry: they travel as `{"$nbhook_bigint": "<digits>"}`, a key no parameter set
 * by a request uses in practice (checked: a dict with only that key is refused at submit).
 */
import { z } from "zod";
import { AppError } from "../../errors.js";
import type { ParamValue, Parameters } from "../../notebook/types.js";
import type { StoredResult } from "../../store/postgres/cluster-queue.js";
import type { CallAnswer, CallOutcome } from "../types.js";

const BIGINT_KEY = "$nbhook_bigint";

export function encodeParameters(parameters: Parameters): unknown {
  const encode = (value: ParamValue): unknown => {
    if (typeof value === "bigint") return { [BIGINT_KEY]: value.toString() };
    if (Array.isArray(value)) return value.map(encode);
    if (value && typeof value === "object") {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === BIGINT_KEY) {
        throw new AppError(
          "parameter-invalid",
          `a parameter holds a dict whose only key is "${BIGINT_KEY}", which nbhook reserves: rename that key`,
        );
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
    }
    return value;
  };
  return encode(parameters as ParamValue);
}

export function decodeParameters(json: unknown): Parameters {
  const decode = (value: unknown): ParamValue => {
    if (Array.isArray(value)) return value.map(decode);
    if (value && typeof value === "object") {
      const entries = Object.entries(value);
      if (entries.length === 1 && entries[0]![0] === BIGINT_KEY && typeof entries[0]![1] === "string") {
        return BigInt(entries[0]![1]);
      }
      return Object.fromEntries(entries.map(([k, v]) => [k, decode(v)]));
    }
    return value as ParamValue;
  };
  return decode(json) as Parameters;
}

/** graphile-worker's payload of an `nbhook_call` job. */
export const callPayloadSchema = z.object({
  runId: z.string(),
  keepAnswer: z.boolean(),
  parameters: z.unknown(),
  redacted: z.unknown(),
  /** The API node's folder of the uploaded files: paths under it are moved to the worker's. */
  uploadsDir: z.string().optional(),
  /** When the caller's wait for a slot ends (ms since the epoch); a worker taking it later cancels it. */
  queueDeadline: z.number(),
});
export type CallPayload = z.infer<typeof callPayloadSchema>;

/** An outcome as it travels: what the answer was made from, without the response's bytes (the answer has them). */
export function outcomeToWire(outcome: CallOutcome): unknown {
  if (outcome.kind !== "ran") return outcome;
  const rest: Partial<typeof outcome> = { ...outcome };
  delete rest.response;
  return rest;
}

const runErrorSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()),
  cellIndex: z.number().optional(),
});
const statusSchema = z.enum(["ok", "error", "timeout", "died"]);
const outcomeSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("ran"),
    runId: z.string(),
    status: statusSchema,
    durationMs: z.number(),
    error: runErrorSchema.optional(),
    timings: z.object({ kernelMs: z.number(), cellsMs: z.number() }).optional(),
  }),
  z.object({
    kind: z.literal("cancelled"),
    runId: z.string(),
    reason: z.enum(["queue-timeout", "caller-gone", "closing"]),
    message: z.string(),
    retryAfterS: z.number(),
  }),
  z.object({
    kind: z.literal("failed"),
    runId: z.string(),
    message: z.string(),
    storage: z.string().optional(),
    unreachable: z.boolean().optional(),
  }),
]);

export function outcomeFromWire(json: unknown): CallOutcome {
  return outcomeSchema.parse(json) as CallOutcome;
}

/** The answer as stored for the waiting API node; a file answer is read into memory here. */
export async function resultToWire(
  outcome: CallOutcome,
  answer: CallAnswer,
  readFile: (path: string) => Promise<Buffer>,
): Promise<StoredResult> {
  const body = answer.file ? await readFile(answer.file.path) : answer.body;
  return { outcome: outcomeToWire(outcome), status: answer.status, headers: answer.headers, body };
}
