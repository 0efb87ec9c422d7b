import { describe, expect, it } from "vitest";
import { isIopubOutput, readMessage, type IopubOutput } from "../kernel/messages.js";
import { OutputCollector } from "./outputs.js";
import type { Output } from "./types.js";

/** An iopub output message as the kernel layer delivers it: read through its schema. */
function msg(msg_type: IopubOutput["msg_type"], content: Record<string, unknown>): IopubOutput {
  const header = { msg_id: "m", msg_type, session: "s", username: "u" };
  const read = readMessage({ header, parent_header: {}, metadata: {}, content, buffers: [], identities: [] });
  if (!read.ok || !isIopubOutput(read.message))
    throw new Error(`not a valid ${msg_type}: ${JSON.stringify(read)}`);
  return read.message;
}

function cell(collector = new OutputCollector()) {
  const outputs: Output[] = [];
  return { outputs, sink: collector.forCell(outputs), collector };
}

describe("OutputCollector", () => {
  it("merges consecutive stream text of the same name only", () => {
    const { outputs, sink } = cell();
    sink.handle(msg("stream", { name: "stdout", text: "a" }));
    sink.handle(msg("stream", { name: "stdout", text: "b\n" }));
    sink.handle(msg("stream", { name: "stderr", text: "e" }));
    sink.handle(msg("stream", { name: "stdout", text: "c" }));
    expect(outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "ab\n" },
      { output_type: "stream", name: "stderr", text: "e" },
      { output_type: "stream", name: "stdout", text: "c" },
    ]);
  });

  it("keeps execute_result with its count and drops transient fields", () => {
    const { outputs, sink } = cell();
    sink.handle(
      msg("execute_result", { data: { "text/plain": "2" }, metadata: {}, execution_count: 4, transient: {} }),
    );
    expect(outputs).toEqual([
      { output_type: "execute_result", data: { "text/plain": "2" }, metadata: {}, execution_count: 4 },
    ]);
  });

  it("updates every display with the display_id, across cells", () => {
    const collector = new OutputCollector();
    const first = cell(collector);
    const second = cell(collector);
    const shown = { data: { "text/plain": "0%" }, metadata: {}, transient: { display_id: "bar" } };
    first.sink.handle(msg("display_data", shown));
    second.sink.handle(msg("display_data", shown));
    second.sink.handle(
      msg("update_display_data", {
        data: { "text/plain": "100%" },
        metadata: { x: 1 },
        transient: { display_id: "bar" },
      }),
    );
    for (const { outputs } of [first, second]) {
      expect(outputs).toEqual([
        { output_type: "display_data", data: { "text/plain": "100%" }, metadata: { x: 1 } },
      ]);
    }
  });

  it("clears at once, or before the next output with wait=True", () => {
    const { outputs, sink } = cell();
    sink.handle(msg("stream", { name: "stdout", text: "old" }));
    sink.handle(msg("clear_output", { wait: false }));
    expect(outputs).toEqual([]);
    sink.handle(msg("stream", { name: "stdout", text: "1" }));
    sink.handle(msg("clear_output", { wait: true }));
    expect(outputs).toHaveLength(1);
    sink.handle(msg("stream", { name: "stdout", text: "2" }));
    expect(outputs).toEqual([{ output_type: "stream", name: "stdout", text: "2" }]);
  });

  it("forgets displays it cleared, so later updates do not resurrect them", () => {
    const { outputs, sink } = cell();
    sink.handle(
      msg("display_data", { data: { "text/plain": "a" }, metadata: {}, transient: { display_id: "d" } }),
    );
    sink.handle(msg("clear_output", { wait: false }));
    sink.handle(
      msg("update_display_data", {
        data: { "text/plain": "b" },
        metadata: {},
        transient: { display_id: "d" },
      }),
    );
    expect(outputs).toEqual([]);
  });

  it("keeps the execution count of the last execute_result for the cell", () => {
    const { sink } = cell();
    expect(sink.executionCount).toBeNull();
    sink.handle(msg("execute_result", { data: { "text/plain": "1" }, metadata: {}, execution_count: 7 }));
    sink.handle(msg("execute_result", { data: { "text/plain": "2" }, metadata: {}, execution_count: 8 }));
    expect(sink.executionCount).toBe(8);
  });

  it("keeps JSON bundle values and metadata exactly, whatever their shape", () => {
    const { outputs, sink } = cell();
    const data = { "application/json": [1, { a: null }], "text/plain": ["line 1\n", "line 2"] };
    sink.handle(msg("display_data", { data, metadata: { "application/json": { expanded: true } } }));
    expect(outputs).toEqual([
      { output_type: "display_data", data, metadata: { "application/json": { expanded: true } } },
    ]);
  });

  it("does not extend stream text that another output follows", () => {
    const { outputs, sink } = cell();
    sink.handle(msg("stream", { name: "stdout", text: "a" }));
    sink.handle(msg("display_data", { data: { "text/plain": "x" }, metadata: {} }));
    sink.handle(msg("stream", { name: "stdout", text: "b" }));
    expect(outputs.map((o) => o.output_type)).toEqual(["stream", "display_data", "stream"]);
  });

  it("records errors with their traceback", () => {
    const { outputs, sink } = cell();
    sink.handle(msg("error", { ename: "E", evalue: "v", traceback: ["t1", "t2"] }));
    expect(outputs).toEqual([{ output_type: "error", ename: "E", evalue: "v", traceback: ["t1", "t2"] }]);
  });
});
