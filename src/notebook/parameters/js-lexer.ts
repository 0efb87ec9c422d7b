/**
 * @module Splits JavaScript/TypeScript cell source into top-level statements of tokens. A
 * statement ends at a top-level `;`, or at a top-level line break when the line does not end in an
 * operator that needs more (a rough automatic-semicolon rule, enough for declarations). Never
 * throws; unreadable text becomes "error" tokens.
 */
import { CLOSERS, OPENERS, matchAt, type Statement, type Token } from "./source-tokens.js";

const NAME = /[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/uy;
const NUMBER =
  /(?:0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[oO][0-7](?:_?[0-7])*|0[bB][01](?:_?[01])*|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?)n?/y;
const OPERATORS = [
  ">>>=",
  "...",
  "===",
  "!==",
  "**=",
  "<<=",
  ">>=",
  ">>>",
  "&&=",
  "||=",
  "??=",
  "=>",
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "??",
  "?.",
  "++",
  "--",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "**",
  "<<",
  ">>",
];
/** After these (or at a statement start) a `/` begins a regular expression, not a division. */
const BEFORE_REGEX = new Set([
  "=",
  "(",
  ",",
  "[",
  ":",
  "!",
  "&&",
  "||",
  "??",
  "?",
  "{",
  "}",
  ";",
  "=>",
  "return",
]);
/** A line ending in one of these continues on the next line. */
const CONTINUING = new Set([
  "=",
  ",",
  "+",
  "-",
  "*",
  "/",
  "%",
  "**",
  "&&",
  "||",
  "??",
  "?",
  ":",
  ".",
  "?.",
  "=>",
  "|",
  "&",
  "<",
]);

export function jsStatements(source: string): Statement[] {
  const statements: Statement[] = [];
  let tokens: Token[] = [];
  let closedOnLine: Statement | undefined;
  let pendingComment: string | undefined;
  let depth = 0;
  let pos = 0;

  const close = (): void => {
    if (tokens.length > 0) {
      const statement: Statement = { tokens, indented: false };
      if (pendingComment !== undefined) statement.comment = pendingComment;
      statements.push(statement);
      closedOnLine = statement;
    }
    tokens = [];
    pendingComment = undefined;
  };

  while (pos < source.length) {
    const ch = source[pos] ?? "";
    if (ch === "\n" || ch === "\r" || ch === "\u2028" || ch === "\u2029") {
      pos++;
      const last = tokens[tokens.length - 1];
      if (depth === 0 && !(last?.kind === "op" && CONTINUING.has(last.text))) close();
      closedOnLine = undefined;
      continue;
    }
    if (/\s/.test(ch)) {
      pos++;
      continue;
    }
    if (source.startsWith("//", pos)) {
      const end = lineEnd(source, pos);
      if (depth === 0) {
        const text = source.slice(pos + 2, end).trim();
        if (tokens.length > 0) pendingComment = text;
        else if (closedOnLine) closedOnLine.comment = text;
      }
      pos = end;
      continue;
    }
    if (source.startsWith("/*", pos)) {
      const end = source.indexOf("*/", pos + 2);
      pos = end < 0 ? source.length : end + 2;
      continue;
    }
    const last = tokens[tokens.length - 1];
    let token: Token;
    if (ch === '"' || ch === "'") token = quoted(source, pos, ch);
    else if (ch === "`")
      token = { kind: "string", text: source.slice(pos, templateEnd(source, pos + 1)), start: pos };
    else if (ch === "/" && (last === undefined || BEFORE_REGEX.has(last.text))) token = regex(source, pos);
    else {
      const number = /[0-9.]/.test(ch) ? matchAt(NUMBER, source, pos) : undefined;
      const name = number === undefined ? matchAt(NAME, source, pos) : undefined;
      if (number !== undefined) token = { kind: "number", text: number, start: pos };
      else if (name !== undefined) token = { kind: "name", text: name, start: pos };
      else {
        const op =
          OPERATORS.find((o) => source.startsWith(o, pos)) ??
          String.fromCodePoint(source.codePointAt(pos) ?? 0);
        token = { kind: "op", text: op, start: pos };
        if (OPENERS.has(op)) depth++;
        else if (CLOSERS.has(op)) depth = Math.max(0, depth - 1);
      }
    }
    pos = token.start + token.text.length;
    if (token.kind === "op" && token.text === ";" && depth === 0) close();
    else tokens.push(token);
  }
  close();
  return statements;
}

function lineEnd(source: string, pos: number): number {
  const match = /[\r\n\u2028\u2029]/.exec(source.slice(pos));
  return match ? pos + match.index : source.length;
}

function quoted(source: string, pos: number, quote: string): Token {
  for (let i = pos + 1; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") i++;
    else if (ch === quote) return { kind: "string", text: source.slice(pos, i + 1), start: pos };
    else if (ch === "\n" || ch === "\r") return { kind: "error", text: source.slice(pos, i), start: pos };
  }
  return { kind: "error", text: source.slice(pos), start: pos };
}

/** The end (after the closing backtick) of a template literal whose body starts at `pos`. */
function templateEnd(source: string, pos: number): number {
  let i = pos;
  while (i < source.length) {
    const ch = source[i];
    if (ch === "\\") i += 2;
    else if (ch === "`") return i + 1;
    else if (source.startsWith("${", i)) i = substitutionEnd(source, i + 2);
    else i++;
  }
  return source.length;
}

/** The end (after the closing brace) of a `${…}` whose expression starts at `pos`. */
function substitutionEnd(source: string, pos: number): number {
  let depth = 0;
  let i = pos;
  while (i < source.length) {
    const ch = source[i] ?? "";
    if (ch === "`") i = templateEnd(source, i + 1);
    else if (ch === '"' || ch === "'") {
      const token = quoted(source, i, ch);
      i += Math.max(1, token.text.length);
    } else if (ch === "{") {
      depth++;
      i++;
    } else if (ch === "}") {
      if (depth === 0) return i + 1;
      depth--;
      i++;
    } else i++;
  }
  return source.length;
}

function regex(source: string, pos: number): Token {
  let inClass = false;
  for (let i = pos + 1; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") i++;
    else if (ch === "[") inClass = true;
    else if (ch === "]") inClass = false;
    else if (ch === "/" && !inClass) {
      const flags = /[a-z]*/y;
      flags.lastIndex = i + 1;
      flags.exec(source);
      return { kind: "error", text: source.slice(pos, flags.lastIndex), start: pos };
    } else if (ch === "\n" || ch === "\r") break;
  }
  return { kind: "op", text: "/", start: pos };
}
