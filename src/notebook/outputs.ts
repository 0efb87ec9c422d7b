/**
 * Turning iopub messages into nbformat v4 outputs the way Jupyter saves them: consecutive stream
 * text of the same name merged, `update_display_data` rewriting every output that carries the
 * display_id (in any cell of the run), `clear_output` now or, with `wait`, before the next output.
 * The messages arrive validated (kernel/messages.ts), so their content is used as it is.
 */
import type { IopubOutput, JsonObject, MimeBundle } from "../kernel/index.js";
import type { Output } from "./types.js";

/**
 * The outputs this file makes, as nbformat saves them. Bundle values may be any JSON (nbformat's
 * schema allows it for `…+json` types; @jupyterlab/nbformat's IMimeBundle is narrower), so they
 * are kept as their own types, which Output accepts as it stands.
 */
type StreamOutput = { output_type: "stream"; name: "stdout" | "stderr"; text: string };
type DisplayOutput = { output_type: "display_data"; data: MimeBundle; metadata: JsonObject };
type ResultOutput = {
  output_type: "execute_result";
  data: MimeBundle;
  metadata: JsonObject;
  execution_count: number | null;
};
type ErrorOutput = { output_type: "error"; ename: string; evalue: string; traceback: string[] };

interface DisplayRef {
  outputs: Output[];
  output: DisplayOutput | ResultOutput;
}

/** One run's output state: display ids are shared across its cells. */
export class OutputCollector {
  private readonly displays = new Map<string, DisplayRef[]>();

  /** A sink for one cell's iopub messages, appending to `outputs` (the cell's array). */
  forCell(outputs: Output[]): CellOutputSink {
    return new CellOutputSink(outputs, this.displays);
  }
}

export class CellOutputSink {
  private clearPending = false;
  /** The stream output last appended, which the next text of the same stream extends. */
  private lastStream: StreamOutput | undefined;
  /** The execution count of the cell's last execute_result, if it had one. */
  executionCount: number | null = null;

  constructor(
    readonly outputs: Output[],
    private readonly displays: Map<string, DisplayRef[]>,
  ) {}

  /** Applies one output message of the cell. */
  handle(msg: IopubOutput): void {
    switch (msg.msg_type) {
      case "stream":
        return this.stream(msg.content.name, msg.content.text);
      case "display_data": {
        const { data, metadata, transient } = msg.content;
        return this.add({ output_type: "display_data", data, metadata }, transient?.display_id);
      }
      case "execute_result": {
        const { data, metadata, execution_count, transient } = msg.content;
        if (execution_count !== null) this.executionCount = execution_count;
        return this.add(
          { output_type: "execute_result", data, metadata, execution_count },
          transient?.display_id,
        );
      }
      case "update_display_data":
        return this.update(msg.content.transient.display_id, msg.content.data, msg.content.metadata);
      case "error": {
        const { ename, evalue, traceback } = msg.content;
        return this.add({ output_type: "error", ename, evalue, traceback });
      }
      case "clear_output":
        if (msg.content.wait) this.clearPending = true;
        else this.clear();
        return;
    }
  }

  private flushPendingClear(): void {
    if (this.clearPending) {
      this.clearPending = false;
      this.clear();
    }
  }

  private clear(): void {
    for (const [id, refs] of this.displays) {
      const kept = refs.filter((ref) => ref.outputs !== this.outputs);
      if (kept.length) this.displays.set(id, kept);
      else this.displays.delete(id);
    }
    this.outputs.length = 0;
    this.lastStream = undefined;
  }

  private stream(name: StreamOutput["name"], text: string): void {
    this.flushPendingClear();
    // Identity, not shape: only text this sink appended last is extended.
    const last = this.lastStream;
    if (last && last.name === name && this.outputs.at(-1) === last) {
      last.text += text;
      return;
    }
    const output: StreamOutput = { output_type: "stream", name, text };
    this.outputs.push(output);
    this.lastStream = output;
  }

  private add(output: DisplayOutput | ResultOutput | ErrorOutput, id?: string): void {
    this.flushPendingClear();
    this.outputs.push(output);
    if (id && output.output_type !== "error") {
      const refs = this.displays.get(id) ?? [];
      refs.push({ outputs: this.outputs, output });
      this.displays.set(id, refs);
    }
  }

  private update(id: string, data: MimeBundle, metadata: JsonObject): void {
    for (const ref of this.displays.get(id) ?? []) {
      ref.output.data = data;
      ref.output.metadata = metadata;
    }
  }
}
