import { describe, expect, expectTypeOf, it } from "vitest";
import {
  isIopubOutput,
  isKnownMsgType,
  readMessage,
  type KernelMessage,
  type ReadResult,
} from "./messages.js";

function read(msg_type: string, content: unknown): ReadResult {
  const header = {
    msg_id: "id-1",
    msg_type,
    session: "s",
    username: "u",
    date: "2026-01-01T00:00:00Z",
    version: "5.3",
  };
  const parent_header = { msg_id: "parent-1", msg_type: "execute_request" };
  return readMessage({ header, parent_header, metadata: {}, content, buffers: [], identities: [] });
}

function accepted(msg_type: string, content: unknown): KernelMessage {
  const result = read(msg_type, content);
  if (!result.ok) throw new Error(`rejected ${msg_type}: ${result.problem}`);
  return result.message;
}

function problem(msg_type: string, content: unknown): string {
  const result = read(msg_type, content);
  if (result.ok) throw new Error(`accepted ${msg_type}`);
  return result.problem;
}

describe("kernel message schemas", () => {
  // Content as ipykernel 6.17 and Deno 2.x send it (trimmed).
  it.each([
    ["execute_reply", { status: "ok", execution_count: 3, user_expressions: {}, payload: [] }],
    [
      "execute_reply",
      {
        status: "error",
        execution_count: 4,
        ename: "ZeroDivisionError",
        evalue: "division by zero",
        traceback: ["t"],
      },
    ],
    ["execute_reply", { status: "aborted" }],
    [
      "kernel_info_reply",
      {
        status: "ok",
        protocol_version: "5.3",
        implementation: "ipython",
        implementation_version: "8.5.0",
        language_info: {
          name: "python",
          version: "3.11.2",
          mimetype: "text/x-python",
          codemirror_mode: { name: "ipython", version: 3 },
          file_extension: ".py",
        },
        banner: "Python 3.11",
        help_links: [],
      },
    ],
    ["kernel_info_reply", { protocol_version: "5.3", language_info: { name: "typescript" } }],
    ["shutdown_reply", { status: "ok", restart: false }],
    ["interrupt_reply", { status: "ok" }],
    ["status", { execution_state: "busy" }],
    ["execute_input", { code: "1+1", execution_count: 1 }],
    ["stream", { name: "stdout", text: "hi\n" }],
    [
      "display_data",
      {
        data: { "text/plain": "x", "application/vnd.example+json": { a: 1 } },
        metadata: { x: true },
        transient: {},
      },
    ],
    ["display_data", { data: { "text/plain": "x" } }],
    ["update_display_data", { data: { "text/plain": "y" }, metadata: {}, transient: { display_id: "d" } }],
    ["execute_result", { data: { "text/plain": "2" }, metadata: {}, execution_count: 1 }],
    ["error", { ename: "E", evalue: "v", traceback: ["line"] }],
    ["clear_output", { wait: true }],
    ["input_request", { prompt: "name? ", password: false }],
  ])("accepts a real-looking %s", (msgType, content) => {
    expect(accepted(msgType, content).msg_type).toBe(msgType);
  });

  it("fills the defaults nbformat needs (metadata, traceback, wait)", () => {
    const display = accepted("display_data", { data: { "text/plain": "x" } });
    expect(display.content).toEqual({ data: { "text/plain": "x" }, metadata: {} });
    expect(accepted("error", { ename: "E", evalue: "v" }).content).toEqual({
      ename: "E",
      evalue: "v",
      traceback: [],
    });
    expect(accepted("clear_output", {}).content).toEqual({ wait: false });
  });

  it.each([
    ["execute_reply", { status: "maybe" }, /content\.status/],
    ["execute_reply", { status: "ok", execution_count: "3" }, /content\.execution_count/],
    ["stream", { name: "stdout" }, /content\.text/],
    ["stream", { name: "stdlog", text: "x" }, /content\.name/],
    ["display_data", { data: "text" }, /content\.data: expected an object/],
    ["display_data", { data: {}, metadata: [] }, /content\.metadata/],
    ["update_display_data", { data: {}, transient: {} }, /content\.transient\.display_id/],
    ["execute_result", { data: {}, metadata: {} }, /content\.execution_count/],
    ["error", { ename: "E", evalue: 1 }, /content\.evalue/],
    ["status", { execution_state: "sleeping" }, /content\.execution_state/],
    ["kernel_info_reply", { language_info: { version: "3" } }, /content\.language_info\.name/],
    ["input_request", null, /content/],
  ])("rejects a %s with bad content, naming the field", (msgType, content, field) => {
    expect(problem(msgType, content)).toMatch(field);
  });

  it("keeps every language_info field of kernel_info_reply, known or not", () => {
    const language_info = { name: "r", version: "4.2", codemirror_mode: "r", r_specific: { a: [1] } };
    expect(accepted("kernel_info_reply", { status: "ok", language_info }).content).toEqual({
      status: "ok",
      language_info,
    });
  });

  it("knows which message types nbhook reads", () => {
    expect(isKnownMsgType("execute_reply")).toBe(true);
    expect(isKnownMsgType("comm_msg")).toBe(false);
    expect(isKnownMsgType("toString")).toBe(false);
  });

  it("tells the iopub outputs from the other messages", () => {
    expect(isIopubOutput(accepted("stream", { name: "stdout", text: "" }))).toBe(true);
    expect(isIopubOutput(accepted("status", { execution_state: "idle" }))).toBe(false);
    expect(isIopubOutput(accepted("execute_reply", { status: "ok" }))).toBe(false);
  });

  it("narrows the union on msg_type, content included", () => {
    const msg = accepted("stream", { name: "stderr", text: "e" });
    if (msg.msg_type === "stream") {
      expectTypeOf(msg.content.name).toEqualTypeOf<"stdout" | "stderr">();
      expect(msg.content.name).toBe("stderr");
    }
    if (msg.msg_type === "execute_reply")
      expectTypeOf(msg.content.status).toEqualTypeOf<"ok" | "error" | "abort" | "aborted">();
  });
});
