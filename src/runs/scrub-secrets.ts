/**
 * @module The secrets of a call's parameters kept out of what a run produced: the executed
 * notebook's outputs and the run's error. Redacting the injected cell's source is not enough: a
 * traceback quotes source lines (a failing injected cell quotes its whole `body = {…}` line),
 * and a notebook may print a value it was given.
 *
 * A secret is a value the redacted parameters show as "<redacted>" (webhook-parameters.ts). Each
 * is looked for as it is and as it reads inside a literal of the kernel's language (escaped), and
 * replaced by "<redacted>": everywhere when it has at least {@link MIN_SCRUBBED} characters, in the
 * injected cell's own outputs whatever its length (a one-digit secret scrubbed everywhere would
 * turn every line number into "<redacted>").
 *
 * Stored secrets (docs/secrets.md, run-secrets.ts) are scrubbed the same way, replaced by "***":
 * {@link secretValueTexts} gives their forms, {@link scrubSecretValues} scrubs a run's notebook
 * and error. Values shorter than {@link MIN_SCRUBBED} are not scrubbed (they would match
 * everywhere).
 */
import { findInjectedCellIndex, translateValue } from "../notebook/parameters/index.js";
import type { Notebook, ParamLanguage, ParamValue, Parameters } from "../notebook/types.js";
import type { RunError } from "./types.js";
import { REDACTED } from "./webhook-parameters.js";

export const MIN_SCRUBBED = 4;

/** What a stored secret's value becomes in what a run produced. */
export const SCRUBBED_VALUE = "***";

/**
 * The forms a secret value takes in a run's text: as it is, escaped in a JSON string, in a
 * literal of the kernel's language (a traceback quoting it, a repr), and escaped in HTML (a
 * DataFrame's or a notebook's HTML); those of at least MIN_SCRUBBED characters, longest first.
 */
export function secretValueTexts(values: string[], language?: ParamLanguage): string[] {
  const found = new Set<string>();
  for (const value of values) {
    if (value.length < MIN_SCRUBBED) continue;
    found.add(value);
    found.add(JSON.stringify(value).slice(1, -1));
    found.add(escapeHtml(value));
    if (language) {
      const literal = translateValue(language, value);
      if (literal.length > 2) found.add(literal.slice(1, -1));
    }
    const singleQuoted = value.replaceAll("\\", "\\\\").replaceAll("'", "\\'"); // Python's repr
    found.add(singleQuoted);
  }
  return [...found].filter((t) => t.length >= MIN_SCRUBBED).sort((a, b) => b.length - a.length);
}

/** Replaces the `texts` (secretValueTexts) by "***" in every cell's outputs and in `error`; in place. */
export function scrubSecretValues(notebook: Notebook, error: RunError | undefined, texts: string[]): void {
  if (texts.length === 0) return;
  for (const cell of notebook.cells) {
    if (cell.cell_type !== "code" || !Array.isArray(cell.outputs)) continue;
    cell.outputs = cell.outputs.map((output) => scrubValue(output, texts, SCRUBBED_VALUE) as typeof output);
  }
  if (!error) return;
  error.evalue = scrubText(error.evalue, texts, SCRUBBED_VALUE);
  error.traceback = error.traceback.map((line) => scrubText(line, texts, SCRUBBED_VALUE));
}

/** One text (a log field) with the `texts` replaced by "***". */
export function scrubSecretText(text: string, texts: string[]): string {
  return scrubText(text, texts, SCRUBBED_VALUE);
}

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#x27;");
}

/** The texts of the secret values in `parameters` (those `shown` redacts), longest first. */
export function secretTexts(parameters: Parameters, shown: Parameters, language: ParamLanguage): string[] {
  const found = new Set<string>();
  const collect = (value: ParamValue) => {
    for (const leaf of leaves(value)) {
      const text = typeof leaf === "string" ? leaf : String(leaf);
      if (text === "" || text === REDACTED) continue;
      found.add(text);
      const literal = translateValue(language, leaf);
      if (typeof leaf === "string" && literal.length > 2) found.add(literal.slice(1, -1));
    }
  };
  const walk = (value: ParamValue | undefined, seen: ParamValue | undefined) => {
    if (seen === REDACTED && value !== REDACTED && value !== undefined) return collect(value);
    if (Array.isArray(value) && Array.isArray(seen)) value.forEach((v, i) => walk(v, seen[i]));
    else if (isRecord(value) && isRecord(seen)) {
      for (const [key, v] of Object.entries(value)) walk(v, Object.hasOwn(seen, key) ? seen[key] : undefined);
    }
  };
  walk(parameters, shown);
  return [...found].sort((a, b) => b.length - a.length);
}

/** Replaces the `secrets` in the notebook's outputs and in `error`; changes them in place. */
export function scrubSecrets(notebook: Notebook, error: RunError | undefined, secrets: string[]): void {
  if (secrets.length === 0) return;
  const everywhere = secrets.filter((s) => s.length >= MIN_SCRUBBED);
  const injected = findInjectedCellIndex(notebook);
  notebook.cells.forEach((cell, index) => {
    if (cell.cell_type !== "code" || !Array.isArray(cell.outputs)) return;
    const list = index === injected ? secrets : everywhere;
    if (list.length === 0) return;
    cell.outputs = cell.outputs.map((output) => scrubValue(output, list, REDACTED) as typeof output);
  });
  if (!error) return;
  const list = error.cellIndex === injected ? secrets : everywhere;
  error.evalue = scrubText(error.evalue, list, REDACTED);
  error.traceback = error.traceback.map((line) => scrubText(line, list, REDACTED));
}

/** Every string (stream text, MIME data, traceback lines…) inside an output, scrubbed. */
function scrubValue(value: unknown, secrets: string[], replacement: string): unknown {
  if (typeof value === "string") return scrubText(value, secrets, replacement);
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, secrets, replacement));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    Object.defineProperty(out, key, {
      value: scrubValue(v, secrets, replacement),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function scrubText(text: string, secrets: string[], replacement: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(replacement);
  return out;
}

function* leaves(value: ParamValue): Generator<string | number | bigint | boolean> {
  if (value === null) return;
  if (Array.isArray(value)) for (const item of value) yield* leaves(item);
  else if (typeof value === "object") for (const item of Object.values(value)) yield* leaves(item);
  else if (typeof value !== "boolean") yield value;
}

function isRecord(value: ParamValue | undefined): value is { [key: string]: ParamValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
