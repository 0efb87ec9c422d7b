/**
 * @module The token and statement shapes the Python and JavaScript cell readers share. The
 * readers are deliberately small: they find top-level `name = literal` statements in a
 * `parameters` cell and never execute or fully parse the language.
 */

export interface Token {
  kind: "name" | "number" | "string" | "op" | "error";
  text: string;
  /** Offset of the token in the cell source. */
  start: number;
}

/** One top-level statement of a cell. */
export interface Statement {
  tokens: Token[];
  /** The statement starts indented (inside a block): not a parameter definition. */
  indented: boolean;
  /** Text of a comment at the end of the statement's last line, without the marker. */
  comment?: string;
}

/** Openers and closers that nest for statement splitting. */
export const OPENERS = new Set(["(", "[", "{"]);
export const CLOSERS = new Set([")", "]", "}"]);

/** Finds the first operator `op` not nested in brackets, from `from`; -1 when there is none. */
export function findTopLevel(tokens: readonly Token[], op: string, from = 0): number {
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined || token.kind !== "op") continue;
    if (depth === 0 && token.text === op) return i;
    if (OPENERS.has(token.text)) depth++;
    else if (CLOSERS.has(token.text)) depth = Math.max(0, depth - 1);
  }
  return -1;
}

/** Splits tokens at top-level `op` (for `;` and `,`). */
export function splitTopLevel(tokens: readonly Token[], op: string): Token[][] {
  const parts: Token[][] = [];
  let from = 0;
  for (;;) {
    const at = findTopLevel(tokens, op, from);
    if (at < 0) break;
    parts.push(tokens.slice(from, at));
    from = at + 1;
  }
  parts.push(tokens.slice(from));
  return parts;
}

/** Tries `pattern` (a sticky regex) at `pos`; the matched text or undefined. */
export function matchAt(pattern: RegExp, text: string, pos: number): string | undefined {
  pattern.lastIndex = pos;
  const match = pattern.exec(text);
  return match ? match[0] : undefined;
}
