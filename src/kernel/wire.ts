/**
 * The Jupyter wire format over ZeroMQ, with HMAC-SHA256 signatures:
 *   [identities…, "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers…]
 *
 * Written by hand: it is thirty lines, and the npm packages that do it (@nteract/messaging,
 * jupyterlab services) pull in a whole client stack or target WebSockets.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.js";
import { headerSchema, PROTOCOL_VERSION, type Header, type Message } from "./messages.js";

const DELIMITER = Buffer.from("<IDS|MSG>");

export class WireCodec {
  readonly session = randomUUID();
  private readonly key: Buffer;

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
  header(msgType: string): Header {
    return {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: this.session,
      username: "nbhook",
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    };
  }

  encode(header: Header, content: unknown, parent: Partial<Header> = {}, metadata: object = {}): Buffer[] {
    const parts = [header, parent, metadata, content].map((part) => Buffer.from(JSON.stringify(part), "utf8"));
    return [DELIMITER, Buffer.from(this.sign(parts), "ascii"), ...parts];
  }

  /** Decodes and verifies a multipart message; throws a `protocol` AppError on a bad one. */
  decode(frames: Buffer[]): Message {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0 || frames.length < at + 6) throw new AppError("protocol", "message without <IDS|MSG> delimiter");
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6);
    if (this.key.length > 0) {
      const expected = Buffer.from(this.sign(parts), "ascii");
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        throw new AppError("protocol", "message with an invalid HMAC signature (dropped)");
      }
    }
    const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString("utf8")) as unknown);
    return {
      header: headerSchema.parse(header),
      parent_header: (parent ?? {}) as Partial<Header>,
      metadata: (metadata ?? {}) as Record<string, unknown>,
      content: (content ?? {}) as Record<string, unknown>,
      buffers: frames.slice(at + 6),
      identities: frames.slice(0, at),
    };
  }
}
