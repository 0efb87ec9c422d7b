/**
 * @module Splits Python cell source into top-level statements of tokens: logical lines (brackets
 * and backslashes join physical lines), split at `;`, each with its trailing comment. Never
 * throws; text it cannot read becomes "error" tokens, which no literal parser accepts.
 */
import { CLOSERS, OPENERS, matchAt, type Statement, type Token } from "./source-tokens.js";

const NAME = /[\p{XID_Start}_]\p{XID_Continue}*/uy;
const NUMBER =
  /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?)[jJ]?/y;
const STRING_START = /([rRbBuUfF]{0,2})('''|"""|'|")/y;
const STRING_PREFIXES = new Set(["", "r", "u", "b", "br", "rb", "f", "fr", "rf"]);
const OPERATORS = [
  "**=",
  "//=",
  ">>=",
  "<<=",
  "...",
  "->",
  ":=",
  "==",
  "!=",
  "<=",
  ">=",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "@=",
  "**",
  "//",
  "<<",
  ">>",
];

export function pythonStatements(source: string): Statement[] {
  const statements: Statement[] = [];
  let tokens: Token[] = [];
  let comment: string | undefined;
  let indented = false;
  let atLineStart = true;
  let depth = 0;
  let pos = 0;

  const endLine = (): void => {
    if (tokens.length > 0) {
      const parts = splitAtSemicolons(tokens);
      parts.forEach((part, i) => {
        const statement: Statement = { tokens: part, indented };
        if (i === parts.length - 1 && comment !== undefined) statement.comment = comment;
        statements.push(statement);
      });
    }
    tokens = [];
    comment = undefined;
    indented = false;
    atLineStart = true;
    depth = 0;
  };

  while (pos < source.length) {
    const ch = source[pos] ?? "";
    if (ch === " " || ch === "\t" || ch === "\f") {
      if (atLineStart && tokens.length === 0) indented = true;
      pos++;
      continue;
    }
    if (ch === "\n" || ch === "\r") {
      pos += source.startsWith("\r\n", pos) ? 2 : 1;
      if (depth === 0) endLine();
      else atLineStart = false;
      continue;
    }
    atLineStart = false;
    if (ch === "\\" && /^\\(?:\r\n|\n|\r)/.test(source.slice(pos, pos + 3))) {
      pos += source.startsWith("\\\r\n", pos) ? 3 : 2;
      continue;
    }
    if (ch === "#") {
      const end = lineEnd(source, pos);
      if (depth === 0) comment = source.slice(pos + 1, end).trim();
      pos = end;
      continue;
    }
    const start = matchAt(STRING_START, source, pos);
    if (start !== undefined && STRING_PREFIXES.has(start.replace(/['"]/g, "").toLowerCase())) {
      const end = stringEnd(source, pos + start.length, start.replace(/^[^'"]*/, ""));
      tokens.push({ kind: end.ok ? "string" : "error", text: source.slice(pos, end.pos), start: pos });
      pos = end.pos;
      continue;
    }
    const number =
      /[0-9]/.test(ch) || (ch === "." && /[0-9]/.test(source[pos + 1] ?? ""))
        ? matchAt(NUMBER, source, pos)
        : undefined;
    if (number !== undefined) {
      tokens.push({ kind: "number", text: number, start: pos });
      pos += number.length;
      continue;
    }
    const name = matchAt(NAME, source, pos);
    if (name !== undefined) {
      tokens.push({ kind: "name", text: name, start: pos });
      pos += name.length;
      continue;
    }
    const op =
      OPERATORS.find((o) => source.startsWith(o, pos)) ?? String.fromCodePoint(source.codePointAt(pos) ?? 0);
    if (OPENERS.has(op)) depth++;
    else if (CLOSERS.has(op)) depth = Math.max(0, depth - 1);
    tokens.push({ kind: "op", text: op, start: pos });
    pos += op.length;
  }
  endLine();
  return statements;
}

function lineEnd(source: string, pos: number): number {
  const match = /\r|\n/.exec(source.slice(pos));
  return match ? pos + match.index : source.length;
}

/** Where the string body that starts at `pos` ends (after its closing quote). */
function stringEnd(source: string, pos: number, quote: string): { pos: number; ok: boolean } {
  const triple = quote.length === 3;
  let i = pos;
  while (i < source.length) {
    const ch = source[i];
    if (ch === "\\") {
      i += source.startsWith("\\\r\n", i) ? 3 : 2;
      continue;
    }
    if (source.startsWith(quote, i)) return { pos: i + quote.length, ok: true };
    if (!triple && (ch === "\n" || ch === "\r")) return { pos: i, ok: false };
    i++;
  }
  return { pos: source.length, ok: false };
}

function splitAtSemicolons(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  for (const token of tokens) {
    if (token.kind === "op" && token.text === ";") parts.push([]);
    else parts[parts.length - 1]?.push(token);
  }
  return parts.filter((part) => part.length > 0);
}
