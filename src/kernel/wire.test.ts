import { describe, expect, it } from "vitest";
import { WireCodec, type Decoded } from "./wire.js";

const KEY = "0123456789abcdef";

function streamFrames(codec: WireCodec, content: unknown = { name: "stdout", text: "hi\n" }): Buffer[] {
  const parent = codec.header("execute_request");
  return codec.encode(codec.header("stream"), content, parent, { tag: 1 });
}

function problem(decoded: Decoded): string {
  if (decoded.kind === "invalid-frames" || decoded.kind === "invalid-content") return decoded.error.message;
  throw new Error(`expected a protocol error, got ${decoded.kind}`);
}

describe("WireCodec", () => {
  it("round-trips a message with its identities, parent, metadata and buffers", () => {
    const codec = new WireCodec(KEY);
    const parent = codec.header("execute_request");
    const identities = [Buffer.from("routing-id"), Buffer.from("second")];
    const buffers = [Buffer.from([1, 2, 3])];
    const frames = [
      ...identities,
      ...codec.encode(codec.header("stream"), { name: "stderr", text: "x" }, parent, { a: 1 }),
      ...buffers,
    ];

    const envelope = codec.unpack(frames);
    expect(envelope).not.toBeInstanceOf(Error);
    if (envelope instanceof Error) return;
    expect(envelope.identities).toEqual(identities);
    expect(envelope.buffers).toEqual(buffers);

    const decoded = codec.decode(frames);
    expect(decoded.kind).toBe("message");
    if (decoded.kind !== "message" || decoded.message.msg_type !== "stream") return;
    expect(decoded.message.content).toEqual({ name: "stderr", text: "x" });
    expect(decoded.message.parent_header.msg_id).toBe(parent.msg_id);
    expect(decoded.message.metadata).toEqual({ a: 1 });
    expect(decoded.message.header.session).toBe(codec.session);
  });

  it("rejects a message signed with another key, naming the signature", () => {
    const frames = streamFrames(new WireCodec("another key"));
    expect(problem(new WireCodec(KEY).decode(frames))).toMatch(/invalid HMAC signature/);
  });

  it("rejects a message whose JSON frames were changed after signing", () => {
    const codec = new WireCodec(KEY);
    const frames = streamFrames(codec);
    frames[5] = Buffer.from(JSON.stringify({ name: "stdout", text: "tampered" }));
    expect(problem(codec.decode(frames))).toMatch(/invalid HMAC signature/);
  });

  it("rejects frames without the <IDS|MSG> delimiter", () => {
    const codec = new WireCodec(KEY);
    const frames = streamFrames(codec).slice(1);
    expect(problem(codec.decode(frames))).toMatch(/<IDS\|MSG> delimiter/);
  });

  it("rejects a message with fewer than four JSON frames after the delimiter", () => {
    const codec = new WireCodec(KEY);
    expect(problem(codec.decode(streamFrames(codec).slice(0, 4)))).toMatch(/four JSON frames/);
  });

  it("turns a frame that is not JSON into a protocol error naming the frame, without throwing", () => {
    const codec = new WireCodec(""); // unsigned, so the broken frame passes the signature check
    const frames = streamFrames(codec);
    frames[5] = Buffer.from("{not json");
    const decoded = codec.decode(frames);
    expect(decoded.kind).toBe("invalid-frames");
    expect(problem(decoded)).toMatch(/content frame is not JSON/);
  });

  it("rejects a header without msg_id, naming the field", () => {
    const codec = new WireCodec("");
    const frames = streamFrames(codec);
    frames[2] = Buffer.from(JSON.stringify({ msg_type: "stream" }));
    expect(problem(codec.decode(frames))).toMatch(/bad header: msg_id/);
  });

  it("neither signs nor checks signatures with an empty key", () => {
    const unsigned = new WireCodec("");
    const frames = streamFrames(unsigned);
    expect(frames[1]!.length).toBe(0);
    frames[1] = Buffer.from("whatever");
    expect(unsigned.decode(frames).kind).toBe("message");
  });

  it("reports a signed message of a type nbhook does not read as other", () => {
    const codec = new WireCodec(KEY);
    const frames = codec.encode(codec.header("comm_msg"), { comm_id: "c", data: {} });
    expect(codec.decode(frames)).toEqual({ kind: "other", msgType: "comm_msg" });
  });

  it("reports invalid content of a known type with its parent and the bad field", () => {
    const codec = new WireCodec(KEY);
    const parent = codec.header("execute_request");
    const frames = codec.encode(codec.header("execute_reply"), { status: "maybe" }, parent);
    const decoded = codec.decode(frames);
    expect(decoded.kind).toBe("invalid-content");
    if (decoded.kind !== "invalid-content") return;
    expect(decoded.parentId).toBe(parent.msg_id);
    expect(decoded.msgType).toBe("execute_reply");
    expect(decoded.error.code).toBe("protocol");
    expect(decoded.error.message).toMatch(/execute_reply .*content\.status/);
  });
});
