/**
 * The Jupyter messages (protocol 5.3) nbhook reads and sends, as one closed union validated with
 * zod on arrival, content included. A message of another type (comm_*, debug_event, …) is not
 * part of the union; a message of a known type whose content fails its schema is a protocol error.
 *
 * Each message carries its type at the top level (`msg_type`, next to `header`): TypeScript
 * narrows a union on a top-level discriminant, not on `header.msg_type`.
 *
 * Speed matters: every iopub message goes through here (a cell's round trip is ~4 ms). Objects
 * and values the wire got from JSON.parse are JSON by construction, so MIME bundles and metadata
 * are checked to be objects, not walked.
 */
import { z } from "zod";
import { describeIssues } from "./describe-issues.js";

export const PROTOCOL_VERSION = "5.3";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

/** A JSON object from JSON.parse: its members are JSON already, so only its kind is checked. */
const jsonObject = z.custom<JsonObject>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  { error: "expected an object" },
);

/** Any value from JSON.parse (so JSON by construction). */
const jsonValue = z.custom<JsonValue>();

/** `{mime type: data}`; values may be any JSON (a string, lines, or JSON for `…+json` types). */
export type MimeBundle = JsonObject;
const mimeBundle = jsonObject;

export const headerSchema = z.object({
  msg_id: z.string(),
  msg_type: z.string(),
  session: z.string().default(""),
  username: z.string().default(""),
  date: z.string().optional(),
  version: z.string().optional(),
});
export type Header = z.infer<typeof headerSchema>;

/** Empty (`{}`) when the message has no parent. */
export const parentHeaderSchema = headerSchema.partial();
export type ParentHeader = z.infer<typeof parentHeaderSchema>;

const transient = z.object({ display_id: z.string().optional() });

/** One member of the union: its type, and the schema of its content. */
function member<T extends string, C extends z.ZodType>(msgType: T, content: C) {
  return z.object({ msg_type: z.literal(msgType), content });
}

/** The incoming messages nbhook reads (`msg_type` and content), looked up by msg_type. */
const incomingSchema = z.discriminatedUnion("msg_type", [
  // shell and control replies
  member(
    "execute_reply",
    z.object({
      status: z.enum(["ok", "error", "abort", "aborted"]),
      execution_count: z.number().nullable().optional(),
      ename: z.string().optional(),
      evalue: z.string().optional(),
      traceback: z.array(z.string()).optional(),
    }),
  ),
  member(
    "kernel_info_reply",
    z.object({
      // tslab's reply has no status
      status: z.enum(["ok", "error"]).optional(),
      protocol_version: z.string().optional(),
      implementation: z.string().optional(),
      implementation_version: z.string().optional(),
      banner: z.string().optional(),
      language_info: z
        .object({
          name: z.string(),
          version: z.string().optional(),
          mimetype: z.string().optional(),
          file_extension: z.string().optional(),
          pygments_lexer: z.string().optional(),
          codemirror_mode: z.union([z.string(), jsonObject]).optional(),
          nbconvert_exporter: z.string().optional(),
        })
        // kept whole: runs save it as the notebook's metadata.language_info
        .catchall(jsonValue)
        .optional(),
    }),
  ),
  member(
    "shutdown_reply",
    z.object({ status: z.enum(["ok", "error"]).optional(), restart: z.boolean().optional() }),
  ),
  member("interrupt_reply", z.object({ status: z.enum(["ok", "error"]).optional() })),
  // iopub
  member("status", z.object({ execution_state: z.enum(["busy", "idle", "starting"]) })),
  member("execute_input", z.object({ code: z.string(), execution_count: z.number().nullable().optional() })),
  member("stream", z.object({ name: z.enum(["stdout", "stderr"]), text: z.string() })),
  member(
    "display_data",
    z.object({ data: mimeBundle, metadata: jsonObject.default(() => ({})), transient: transient.optional() }),
  ),
  member(
    "update_display_data",
    z.object({
      data: mimeBundle,
      metadata: jsonObject.default(() => ({})),
      transient: z.object({ display_id: z.string() }),
    }),
  ),
  member(
    "execute_result",
    z.object({
      data: mimeBundle,
      metadata: jsonObject.default(() => ({})),
      execution_count: z.number().nullable(),
      transient: transient.optional(),
    }),
  ),
  member(
    "error",
    z.object({ ename: z.string(), evalue: z.string(), traceback: z.array(z.string()).default(() => []) }),
  ),
  member("clear_output", z.object({ wait: z.boolean().default(false) })),
  // stdin
  member("input_request", z.object({ prompt: z.string().default(""), password: z.boolean().default(false) })),
]);

type Incoming = z.infer<typeof incomingSchema>;
export type MsgType = Incoming["msg_type"];

/** A message as it comes off the wire, verified but with its content not read yet. */
export interface Envelope {
  header: Header;
  parent_header: ParentHeader;
  metadata: JsonObject;
  content: unknown;
  buffers: Buffer[];
  /** ZeroMQ identities before the delimiter (routing ids, or the iopub topic). */
  identities: Buffer[];
}

interface MessageBase {
  header: Header;
  parent_header: ParentHeader;
  metadata: JsonObject;
  buffers: Buffer[];
}

/** The closed union: one member per msg_type nbhook reads. */
export type KernelMessage = MessageBase & Incoming;
export type MessageOf<T extends MsgType> = Extract<KernelMessage, { msg_type: T }>;
export type ContentOf<T extends MsgType> = MessageOf<T>["content"];

export const IOPUB_OUTPUT_TYPES = [
  "stream",
  "display_data",
  "execute_result",
  "update_display_data",
  "error",
  "clear_output",
] as const satisfies readonly MsgType[];

/** The iopub messages that are a cell's outputs (what ExecuteOptions.onIopub receives). */
export type IopubOutput = MessageOf<(typeof IOPUB_OUTPUT_TYPES)[number]>;

const outputTypes: ReadonlySet<string> = new Set(IOPUB_OUTPUT_TYPES);

export function isIopubOutput(msg: KernelMessage): msg is IopubOutput {
  return outputTypes.has(msg.msg_type);
}

export type ExecuteReply = ContentOf<"execute_reply">;
export type KernelInfoReply = ContentOf<"kernel_info_reply">;

const knownTypes: ReadonlySet<string> = new Set(incomingSchema.options.map((o) => o.shape.msg_type.value));

/** Whether nbhook reads messages of this type (others are dropped after decoding). */
export function isKnownMsgType(msgType: string): boolean {
  return knownTypes.has(msgType);
}

/** Whether `msg` is of type `type` (narrows generic code, where a `switch` cannot). */
export function isMessageOf<T extends MsgType>(msg: KernelMessage, type: T): msg is MessageOf<T> {
  return msg.msg_type === type;
}

export type ReadResult = { ok: true; message: KernelMessage } | { ok: false; problem: string };

/**
 * Reads the content of an envelope whose msg_type is one nbhook reads (see isKnownMsgType).
 * `problem` names the bad field(s) when the content fails its schema.
 */
export function readMessage(envelope: Envelope): ReadResult {
  const { header, parent_header, metadata, buffers } = envelope;
  const parsed = incomingSchema.safeParse({ msg_type: header.msg_type, content: envelope.content });
  if (!parsed.success) return { ok: false, problem: describeIssues(parsed.error) };
  return { ok: true, message: { header, parent_header, metadata, buffers, ...parsed.data } };
}

/** Content schemas of the requests nbhook sends (the fake kernel checks them on arrival). */
export const requestContentSchemas = {
  execute_request: z.object({
    code: z.string(),
    silent: z.boolean(),
    store_history: z.boolean(),
    user_expressions: z.record(z.string(), z.string()),
    allow_stdin: z.boolean(),
    stop_on_error: z.boolean(),
  }),
  kernel_info_request: z.object({}),
  shutdown_request: z.object({ restart: z.boolean() }),
  interrupt_request: z.object({}),
} satisfies Record<string, z.ZodType>;

export type RequestType = keyof typeof requestContentSchemas;
export type RequestContent<T extends RequestType> = z.infer<(typeof requestContentSchemas)[T]>;
/** A header made for a request of type T. */
export type RequestHeader<T extends RequestType> = Header & { msg_type: T };

/** The reply each request waits for. */
export const REPLY_TYPES = {
  execute_request: "execute_reply",
  kernel_info_request: "kernel_info_reply",
  shutdown_request: "shutdown_reply",
  interrupt_request: "interrupt_reply",
} as const satisfies Record<RequestType, MsgType>;

export type ReplyType = (typeof REPLY_TYPES)[RequestType];
export type ReplyOf<T extends RequestType> = MessageOf<(typeof REPLY_TYPES)[T]>;
