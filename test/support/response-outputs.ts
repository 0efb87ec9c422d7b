/**
 * @module Outputs as ipykernel 6.17 writes them, for the findResponse() tests
 * (src/notebook/response*.test.ts): nbhook's helper (python/nbhook) and IPython.display calls made
 * exactly as the Naas library makes them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  RESPONSE_MIME,
  type BrokenResponse,
  type Cell,
  type NotebookResponse,
  type Output,
} from "../../src/notebook/types.js";

export function codeCell(...outputs: Output[]): Cell {
  return { cell_type: "code", source: "", metadata: {}, execution_count: 1, outputs };
}

export function display(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): Output {
  return { output_type: "display_data", data, metadata } as Output;
}

export function nbhookOutput(
  bundle: Record<string, unknown>,
  rendering: Record<string, unknown> = {},
): Output {
  return display({ [RESPONSE_MIME]: bundle, ...rendering, "text/plain": "Response set: …" });
}

export const naasPreview = display({
  "text/markdown": ["Response Set as JSON, preview below: "],
  "text/plain": ["<IPython.core.display.Markdown object>"],
});

/** The response found, failing the test on a broken one. */
export function sent(response: NotebookResponse | BrokenResponse | undefined): NotebookResponse | undefined {
  if (response?.kind === "broken") throw new Error(`a broken response: ${response.evalue}`);
  return response;
}

export function text(found: NotebookResponse | BrokenResponse | undefined): string | undefined {
  const response = sent(found);
  return response?.body.toString("utf8");
}

const tempDirs: string[] = [];

/** A new temporary folder, removed by {@link removeTempDirs} (call it in `afterAll`). */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "nbhook-response-"));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
