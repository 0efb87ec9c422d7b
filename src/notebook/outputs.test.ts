import { describe, expect, it } from "vitest";
import { isIopubOutput, readMessage, type IopubOutput } from "../kernel/messages.js";
import { formatSize, heldResponseOf, OutputCollector, prefixWithin } from "./outputs.js";
import { RESPONSE_MIME, type Output } from "./types.js";

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

describe("OutputCollector limits (--max-output)", () => {
  const limited = (maxOutputBytes: number) => cell(new OutputCollector({ maxOutputBytes }));
  const textOf = (output: Output | undefined) => (output as { text: string }).text;

  it("keeps stream text up to the limit, counts the rest, and ends it with the marker", () => {
    const { outputs, sink } = limited(10);
    for (const piece of ["01234", "56789", "abcdef", "ghij"]) {
      sink.handle(msg("stream", { name: "stdout", text: piece }));
    }
    expect(outputs).toHaveLength(1);
    expect(textOf(outputs[0])).toBe(
      "0123456789\n… [nbhook: output truncated at 10 bytes, 20 bytes in all]\n",
    );
  });

  it("cuts between characters, counting UTF-8 bytes, with no extra line break after one", () => {
    const { outputs, sink } = limited(7);
    sink.handle(msg("stream", { name: "stdout", text: "ab\n" }));
    sink.handle(msg("stream", { name: "stdout", text: "é😀é" }));
    // "ab\n" is 3 bytes, "é" 2 more: the 4-byte emoji would pass 7.
    expect(textOf(outputs[0])).toBe("ab\né\n… [nbhook: output truncated at 7 bytes, 11 bytes in all]\n");
    const exact = limited(3);
    exact.sink.handle(msg("stream", { name: "stderr", text: "ab\n" }));
    exact.sink.handle(msg("stream", { name: "stderr", text: "c" }));
    expect(textOf(exact.outputs[0])).toBe("ab\n… [nbhook: output truncated at 3 bytes, 4 bytes in all]\n");
  });

  it("gives each stream output its own limit", () => {
    const { outputs, sink } = limited(4);
    sink.handle(msg("stream", { name: "stdout", text: "12345" }));
    sink.handle(msg("stream", { name: "stderr", text: "abcd" }));
    sink.handle(msg("stream", { name: "stdout", text: "xyz" }));
    expect(outputs.map(textOf)).toEqual([
      "1234\n… [nbhook: output truncated at 4 bytes, 5 bytes in all]\n",
      "abcd",
      "xyz",
    ]);
  });

  it("holds 10 MiB of 50 MB printed, by default", () => {
    const { outputs, sink } = cell();
    const line = "x".repeat(1023) + "\n";
    const chunk = line.repeat(1000); // about 1 MB per message, as ipykernel flushes
    for (let i = 0; i < 50; i++) sink.handle(msg("stream", { name: "stdout", text: chunk }));
    const text = textOf(outputs[0]);
    expect(text.length).toBeLessThan(10 * 1024 * 1024 + 200);
    expect(text.endsWith("\n… [nbhook: output truncated at 10 MiB, 51,200,000 bytes in all]\n")).toBe(true);
  });

  it("cuts text/plain and leaves out other values over the limit, saying so in text/plain", () => {
    const { outputs, sink } = limited(16);
    const data = {
      "text/plain": "a short repr",
      "text/html": `<table>${"<tr><td>1</td></tr>".repeat(10)}</table>`,
      "image/png": "iVBORw0KGgo".repeat(4),
    };
    sink.handle(msg("display_data", { data, metadata: {} }));
    sink.handle(
      msg("execute_result", { data: { "text/plain": "y".repeat(40) }, metadata: {}, execution_count: 1 }),
    );
    expect(outputs).toEqual([
      {
        output_type: "display_data",
        data: {
          "text/plain":
            "a short repr\n" +
            "text/html: … [nbhook: output truncated at 16 bytes, 205 bytes in all]\n" +
            "image/png: … [nbhook: output truncated at 16 bytes, 44 bytes in all]",
        },
        metadata: {},
      },
      {
        output_type: "execute_result",
        data: {
          "text/plain": `${"y".repeat(16)}\n… [nbhook: output truncated at 16 bytes, 40 bytes in all]`,
        },
        metadata: {},
        execution_count: 1,
      },
    ]);
  });

  it("bounds JSON values by their size without serializing them, and updated displays too", () => {
    const { outputs, sink } = limited(64);
    const big = { "application/json": { rows: Array.from({ length: 1000 }, (_, i) => ({ i })) } };
    sink.handle(
      msg("display_data", { data: { "text/plain": "ok" }, metadata: {}, transient: { display_id: "d" } }),
    );
    sink.handle(msg("update_display_data", { data: big, metadata: {}, transient: { display_id: "d" } }));
    const data = (outputs[0] as { data: Record<string, unknown> }).data;
    expect(Object.keys(data)).toEqual(["text/plain"]);
    expect(data["text/plain"]).toMatch(
      /^application\/json: … \[nbhook: output truncated at 64 bytes, \d+ bytes in all\]$/,
    );
  });

  it("never cuts an inline answer: the output keeps a summary, the whole bundle is held for the response", () => {
    const { outputs, sink } = limited(64);
    const bundle = { content_type: "text/plain", data: "z".repeat(100), encoding: "utf-8", status: 201 };
    sink.handle(
      msg("display_data", {
        data: { [RESPONSE_MIME]: bundle, "text/plain": "Response set: text/plain (100 bytes)" },
        metadata: {},
      }),
    );
    const output = outputs[0]!;
    expect((output as { data: unknown }).data).toEqual({
      [RESPONSE_MIME]: { content_type: "text/plain", encoding: "utf-8", status: 201, omitted: 100 },
      "text/plain": "Response set: text/plain (100 bytes)",
    });
    expect(heldResponseOf(output)).toEqual(bundle);
  });
});

describe("prefixWithin() and formatSize()", () => {
  it("never splits a character", () => {
    expect(prefixWithin("aé😀", 1)).toBe("a");
    expect(prefixWithin("aé😀", 2)).toBe("a");
    expect(prefixWithin("aé😀", 3)).toBe("aé");
    expect(prefixWithin("aé😀", 7)).toBe("aé😀");
    expect(prefixWithin("abc", 0)).toBe("");
  });

  it("writes sizes in binary units", () => {
    expect(formatSize(1)).toBe("1 byte");
    expect(formatSize(512)).toBe("512 bytes");
    expect(formatSize(10 * 1024 * 1024)).toBe("10 MiB");
    expect(formatSize(1.5 * 1024 ** 3)).toBe("1.5 GiB");
    expect(formatSize(64 * 1024)).toBe("64 KiB");
  });
});
