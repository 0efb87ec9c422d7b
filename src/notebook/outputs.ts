/**
 * Turning iopub messages into nbformat v4 outputs the way Jupyter saves them: consecutive stream
 * text of the same name merged, `update_display_data` rewriting every output that carries the
 * display_id (in any cell of the run), `clear_output` now or, with `wait`, before the next output.
 */
import type { Output } from "./types.js";

interface DisplayRef {
  outputs: Output[];
  output: Record<string, unknown>;
}

/** One run's output state: display ids are shared across its cells. */
export class OutputCollector {
  private readonly displays = new Map<string, DisplayRef[]>();

  /** A sink for one cell's iopub messages, appending to `outputs` (the cell's array). */
  forCell(outputs: Output[]): CellOutputSink {
    return new CellOutputSink(outputs, this.displays);
  }
}

/** What the sink reads of an iopub message (kernel/messages.ts gives it typed). */
export interface IopubOutput {
  header: { msg_type: string };
  content: Record<string, unknown>;
}

export class CellOutputSink {
  private clearPending = false;
  /** The execution count of the cell's last execute_result, if it had one. */
  executionCount: number | null = null;

  constructor(
    readonly outputs: Output[],
    private readonly displays: Map<string, DisplayRef[]>,
  ) {}

  /** Applies one iopub message; messages that are not outputs are ignored. */
  handle(msg: IopubOutput): void {
    const content = msg.content;
    switch (msg.header.msg_type) {
      case "stream":
        return this.stream(String(content.name ?? "stdout"), String(content.text ?? ""));
      case "display_data":
        return this.add(
          { output_type: "display_data", data: bundle(content.data), metadata: bundle(content.metadata) },
          displayId(content),
        );
      case "execute_result":
        if (typeof content.execution_count === "number") this.executionCount = content.execution_count;
        return this.add(
          {
            output_type: "execute_result",
            data: bundle(content.data),
            metadata: bundle(content.metadata),
            execution_count: typeof content.execution_count === "number" ? content.execution_count : null,
          },
          displayId(content),
        );
      case "update_display_data":
        return this.update(displayId(content), content);
      case "error":
        return this.add({
          output_type: "error",
          ename: String(content.ename ?? ""),
          evalue: String(content.evalue ?? ""),
          traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
        });
      case "clear_output":
        if (content.wait) this.clearPending = true;
        else this.clear();
        return;
      default:
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
  }

  private stream(name: string, text: string): void {
    this.flushPendingClear();
    const last = this.outputs.at(-1) as { output_type?: string; name?: string; text?: string } | undefined;
    if (last?.output_type === "stream" && last.name === name) {
      last.text = (last.text ?? "") + text;
    } else {
      this.outputs.push({ output_type: "stream", name, text } as Output);
    }
  }

  private add(output: Record<string, unknown>, id?: string): void {
    this.flushPendingClear();
    this.outputs.push(output as Output);
    if (id) {
      const refs = this.displays.get(id) ?? [];
      refs.push({ outputs: this.outputs, output });
      this.displays.set(id, refs);
    }
  }

  private update(id: string | undefined, content: Record<string, unknown>): void {
    if (!id) return;
    for (const ref of this.displays.get(id) ?? []) {
      ref.output.data = bundle(content.data);
      ref.output.metadata = bundle(content.metadata);
    }
  }
}

function bundle(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
}

function displayId(content: Record<string, unknown>): string | undefined {
  const transient = content.transient as { display_id?: unknown } | undefined;
  return typeof transient?.display_id === "string" ? transient.display_id : undefined;
}
