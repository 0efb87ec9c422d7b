/**
 * The Jupyter wire format over ZeroMQ, with HMAC-SHA256 signatures:
 *   [identities…, "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers…]
 *
 * Decoding goes frames → delimiter → signature → JSON → typed message (messages.ts), and never
 * throws: whatever a kernel sends ends as a message, a message of a type nbhook does not read, or
 * a protocol error, so a receive loop survives anything.
 *
 * Written by hand: it is a few dozen lines, and the npm packages that do it (@nteract/messaging,
 * jupyterlab services) pull in a whole client stack or target WebSockets.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.js";
import { describeIssues } from "./describe-issues.js";
import {
  headerSchema,
  isKnownMsgType,
  parentHeaderSchema,
  PROTOCOL_VERSION,
  readMessage,
  type Envelope,
  type Header,
  type KernelMessage,
  type ParentHeader,
} from "./messages.js";

const DELIMITER = Buffer.from("<IDS|MSG>");

export type Decoded =
  /** A message nbhook reads, content validated. */
  | { kind: "message"; message: KernelMessage }
  /** A signed, well-formed message of a type nbhook does not read (comm_msg, debug_event, …). */
  | { kind: "other"; msgType: string }
  /** A signed message of a type nbhook reads whose content fails its schema. */
  | { kind: "invalid-content"; error: AppError; msgType: string; parentId: string | undefined }
  /** Not a message at all: no delimiter, a bad signature, bad JSON or a bad header. */
  | { kind: "invalid-frames"; error: AppError };

export class WireCodec {
  readonly session = randomUUID();
  private readonly key: Buffer;

  /** An empty key means unsigned messages (the signature frame is empty and not checked). */
  constructor(key: string) {
    this.key = Buffer.from(key, "utf8");
  }

  private sign(parts: Buffer[]): string {
    if (this.key.length === 0) return "";
    const hmac = createHmac("sha256", this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest("hex");
  }

  /** Builds a new header for an outgoing message. */
  header<T extends string>(msgType: T): Header & { msg_type: T } {
    return {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: this.session,
      username: "nbhook",
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    };
  }

  /** The frames of a message, from the delimiter on (a ROUTER or PUB prepends its identity). */
  encode(header: Header, content: unknown, parent: ParentHeader = {}, metadata: object = {}): Buffer[] {
    const parts = [header, parent, metadata, content].map((part) =>
      Buffer.from(JSON.stringify(part), "utf8"),
    );
    return [DELIMITER, Buffer.from(this.sign(parts), "ascii"), ...parts];
  }

  /** Verifies and parses the frames of a message, without reading its content; an AppError if bad. */
  unpack(frames: Buffer[]): Envelope | AppError {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0 || frames.length < at + 6) {
      return new AppError(
        "protocol",
        "a message without the <IDS|MSG> delimiter and four JSON frames (dropped)",
      );
    }
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6);
    if (this.key.length > 0) {
      const expected = Buffer.from(this.sign(parts), "ascii");
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        return new AppError("protocol", "a message with an invalid HMAC signature (dropped)");
      }
    }
    const json: unknown[] = [];
    for (const [i, part] of parts.entries()) {
      try {
        json.push(JSON.parse(part.toString("utf8")));
      } catch (err) {
        const frame = FRAME_NAMES[i];
        return new AppError("protocol", `a message whose ${frame} frame is not JSON (dropped)`, {
          cause: err,
        });
      }
    }
    const [rawHeader, rawParent, rawMetadata, content] = json;
    const header = headerSchema.safeParse(rawHeader);
    if (!header.success)
      return new AppError("protocol", `a message with a bad header: ${describeIssues(header.error)}`);
    const parent = parentHeaderSchema.safeParse(rawParent ?? {});
    if (!parent.success) {
      return new AppError(
        "protocol",
        `a ${header.data.msg_type} with a bad parent_header: ${describeIssues(parent.error)}`,
      );
    }
    return {
      header: header.data,
      parent_header: parent.data,
      metadata: isObject(rawMetadata) ? rawMetadata : {},
      content,
      buffers: frames.slice(at + 6),
      identities: frames.slice(0, at),
    };
  }

  /** Decodes a message: typed when nbhook reads its type, else `other`, or why it is bad. */
  decode(frames: Buffer[]): Decoded {
    const envelope = this.unpack(frames);
    if (envelope instanceof AppError) return { kind: "invalid-frames", error: envelope };
    const msgType = envelope.header.msg_type;
    if (!isKnownMsgType(msgType)) return { kind: "other", msgType };
    const read = readMessage(envelope);
    if (read.ok) return { kind: "message", message: read.message };
    const error = new AppError(
      "protocol",
      `invalid ${msgType} from the kernel (${read.problem}): it does not follow the Jupyter ` +
        `messaging protocol as nbhook reads it; check the kernel's version, or report the kernel's bug`,
    );
    return { kind: "invalid-content", error, msgType, parentId: envelope.parent_header.msg_id };
  }
}

const FRAME_NAMES = ["header", "parent_header", "metadata", "content"] as const;

function isObject(value: unknown): value is Envelope["metadata"] {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
