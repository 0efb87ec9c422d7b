/**
 * Turning iopub messages into nbformat v4 outputs the way Jupyter saves them: consecutive stream
 * text of the same name merged, `update_display_data` rewriting every output that carries the
 * display_id (in any cell of the run), `clear_output` now or, with `wait`, before the next output.
 * The messages arrive validated (kernel/messages.ts), so their content is used as it is.
 *
 * Each output is kept up to `maxOutputBytes` (the server's `--max-output`): a cell printing 50 MB
 * must not hold 50 MB in memory, nor in the saved notebook. Stream text beyond the limit is counted,
 * not kept, and ends with a marker saying how much there was; a MIME value over it is cut (text)
 * or left out (anything else) with the same marker in `text/plain`. A response bundle carrying its
 * answer inline is the answer itself, so it is never cut: an output keeps a small summary of it
 * and the whole bundle is held aside for the response ({@link heldResponseOf}).
 */
import type { IopubOutput, JsonObject, MimeBundle } from "../kernel/index.js";
import { DEFAULT_MAX_OUTPUT_BYTES, RESPONSE_MIME, type Output } from "./types.js";

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

export interface OutputCollectorOptions {
  /** What one output may keep, in UTF-8 bytes. @default DEFAULT_MAX_OUTPUT_BYTES (10 MiB) */
  maxOutputBytes?: number;
}

/**
 * Whole response bundles whose output keeps only a summary (see the module comment). Keyed by the
 * output object, so a copy of the notebook (a saved one, a structuredClone) has none: what it
 * keeps is the summary, which says the answer was not kept.
 */
const heldResponses = new WeakMap<object, unknown>();

/** The whole response bundle of an output that keeps only its summary, if this run held it. */
export function heldResponseOf(output: object): unknown {
  return heldResponses.get(output);
}

/** One run's output state: display ids are shared across its cells. */
export class OutputCollector {
  private readonly displays = new Map<string, DisplayRef[]>();
  private readonly limit: number;

  constructor(options: OutputCollectorOptions = {}) {
    this.limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  }

  /** A sink for one cell's iopub messages, appending to `outputs` (the cell's array). */
  forCell(outputs: Output[]): CellOutputSink {
    return new CellOutputSink(outputs, this.displays, this.limit);
  }
}

export class CellOutputSink {
  private clearPending = false;
  /** The stream output last appended, which the next text of the same stream extends. */
  private lastStream: StreamText | undefined;
  /** The execution count of the cell's last execute_result, if it had one. */
  executionCount: number | null = null;

  constructor(
    readonly outputs: Output[],
    private readonly displays: Map<string, DisplayRef[]>,
    private readonly limit: number = DEFAULT_MAX_OUTPUT_BYTES,
  ) {}

  /** Applies one output message of the cell. */
  handle(msg: IopubOutput): void {
    switch (msg.msg_type) {
      case "stream":
        return this.stream(msg.content.name, msg.content.text);
      case "display_data": {
        const { data, metadata, transient } = msg.content;
        const output: DisplayOutput = { output_type: "display_data", data, metadata };
        return this.add(this.bounded(output), transient?.display_id);
      }
      case "execute_result": {
        const { data, metadata, execution_count, transient } = msg.content;
        if (execution_count !== null) this.executionCount = execution_count;
        const output: ResultOutput = { output_type: "execute_result", data, metadata, execution_count };
        return this.add(this.bounded(output), transient?.display_id);
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
    if (last && last.output.name === name && this.outputs.at(-1) === last.output) {
      last.append(text);
      return;
    }
    const stream = new StreamText(name, this.limit);
    stream.append(text);
    this.outputs.push(stream.output);
    this.lastStream = stream;
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
      this.bounded(ref.output);
    }
  }

  /** The output with its bundle within the limit (changed in place; a held response noted). */
  private bounded<T extends DisplayOutput | ResultOutput>(output: T): T {
    const { data, held } = boundBundle(output.data, this.limit);
    output.data = data;
    if (held !== undefined) heldResponses.set(output, held);
    else heldResponses.delete(output);
    return output;
  }
}

/**
 * One stream output's text, kept up to `limit` UTF-8 bytes. Past the limit the text is only
 * counted: the output's text is then the kept part and a marker with the count (concatenated
 * anew for each message, which V8 does without copying the kept part).
 */
class StreamText {
  readonly output: StreamOutput;
  private kept = "";
  private keptBytes = 0;
  private totalBytes = 0;
  private cut = false;
  /** What goes between the kept text and the marker: a line break unless the text ended one. */
  private separator = "";

  constructor(
    name: StreamOutput["name"],
    private readonly limit: number,
  ) {
    this.output = { output_type: "stream", name, text: "" };
  }

  append(text: string): void {
    const bytes = Buffer.byteLength(text, "utf8");
    this.totalBytes += bytes;
    if (!this.cut && this.keptBytes + bytes <= this.limit) {
      this.kept += text;
      this.keptBytes += bytes;
      this.output.text = this.kept;
      return;
    }
    if (!this.cut) {
      this.cut = true;
      this.kept += prefixWithin(text, this.limit - this.keptBytes);
      this.separator = this.kept === "" || this.kept.endsWith("\n") ? "" : "\n";
    }
    this.output.text = this.kept + this.separator + truncationMarker(this.limit, this.totalBytes) + "\n";
  }
}

/**
 * The longest start of `text` whose UTF-8 encoding fits in `bytes` (never half a character), as a
 * string of its own: a slice would keep the whole of `text` alive (V8 slices point into their
 * parent), and `text` may be the 50 MB a cell printed.
 */
export function prefixWithin(text: string, bytes: number): string {
  if (bytes <= 0) return "";
  const buffer = new Uint8Array(Math.min(bytes, text.length * 3));
  const { written } = new TextEncoder().encodeInto(text, buffer);
  return new TextDecoder().decode(buffer.subarray(0, written));
}

/** `… [nbhook: output truncated at 10 MiB, 52,428,800 bytes in all]` */
export function truncationMarker(limit: number, total: number): string {
  return `… [nbhook: output truncated at ${formatSize(limit)}, ${total.toLocaleString("en-US")} bytes in all]`;
}

/** A size for people: `10 MiB`, `1.5 GiB`, `300 KiB`, `512 bytes`. */
export function formatSize(bytes: number): string {
  const units: [string, number][] = [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ];
  for (const [unit, size] of units) {
    if (bytes >= size) {
      const value = bytes / size;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
}

/**
 * `data` with every value within `limit`: the response bundle's inline answer replaced by a summary
 * (and returned as `held`), text cut with the marker, other values left out with the marker in
 * `text/plain`. The same object when nothing was over.
 */
function boundBundle(data: MimeBundle, limit: number): { data: MimeBundle; held?: unknown } {
  let bounded: MimeBundle | undefined;
  let held: unknown;
  const notes: string[] = [];
  for (const [mime, value] of Object.entries(data)) {
    const size = jsonSizeUpTo(value, limit);
    if (size <= limit) continue;
    bounded ??= { ...data };
    if (mime === RESPONSE_MIME) {
      const summary = responseSummary(value);
      if (summary === undefined) continue; // not an inline bundle: response.ts says what is wrong
      held = value;
      bounded[mime] = summary;
    } else if (mime === "text/plain" && textOf(value) !== undefined) {
      const text = textOf(value)!;
      const total = Buffer.byteLength(text, "utf8");
      bounded[mime] = `${prefixWithin(text, limit)}\n${truncationMarker(limit, total)}`;
    } else {
      delete bounded[mime];
      notes.push(`${mime}: ${truncationMarker(limit, size)}`);
    }
  }
  if (!bounded) return { data };
  if (notes.length) {
    const plain = textOf(bounded["text/plain"]);
    bounded["text/plain"] = [plain, ...notes].filter((line) => line !== undefined && line !== "").join("\n");
  }
  return held === undefined ? { data: bounded } : { data: bounded, held };
}

/**
 * What the saved notebook keeps of an inline response bundle over the limit: everything but the
 * data, and `omitted` (how many bytes of data). `undefined` for a value that is not such a bundle.
 */
function responseSummary(value: unknown): JsonObject | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const bundle = value as Record<string, unknown>;
  if (typeof bundle.data !== "string") return undefined;
  const { data, ...rest } = bundle;
  const encoding = bundle.encoding === "base64" ? "base64" : "utf8";
  return { ...rest, omitted: Buffer.byteLength(data, encoding) } as JsonObject;
}

/**
 * The size of `value` as JSON text, roughly (strings by their UTF-8 bytes), counted only up to
 * just past `limit`: a huge value is neither walked to its end nor serialized to be measured.
 */
function jsonSizeUpTo(value: unknown, limit: number): number {
  if (typeof value === "string") return Buffer.byteLength(value, "utf8");
  if (typeof value !== "object" || value === null) return String(value).length;
  let size = 2;
  const items: [string, unknown][] | unknown[] = Array.isArray(value) ? value : Object.entries(value);
  for (const item of items) {
    if (size > limit) break;
    if (Array.isArray(value)) size += 1 + jsonSizeUpTo(item, limit - size);
    else {
      const [key, inner] = item as [string, unknown];
      size += key.length + 4 + jsonSizeUpTo(inner, limit - size);
    }
  }
  return size;
}

/** nbformat multi-line text (a string or an array of lines) as one string. */
function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((line) => typeof line === "string")) return value.join("");
  return undefined;
}
