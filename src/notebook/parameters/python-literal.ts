/**
 * @module Reads the value of a Python assignment when it is a literal (what `ast.literal_eval`
 * would accept, restricted to JSON-like types, plus `float("nan")`-style calls that papermill
 * itself writes). Otherwise it guesses the type from the syntax and gives no value.
 */
import type { ParamValue } from "../types.js";
import { setOwn, typeOfValue } from "./param-values.js";
import { parsePythonFloat } from "./python-numbers.js";
import { findTopLevel, type Token } from "./source-tokens.js";
import type { ParamType, ReadValue } from "./types.js";

/** Not a literal we read; `type` is what the syntax still tells. */
class NotLiteral extends Error {
  constructor(readonly type: ParamType = "unknown") {
    super("not a literal");
  }
}

export function readPythonValue(tokens: readonly Token[]): ReadValue {
  if (tokens.length === 0) return { type: "unknown" };
  try {
    const parser = new PythonLiteralParser(tokens);
    const value = parser.expression();
    if (!parser.done()) throw new NotLiteral();
    return { type: typeOfValue(value), value };
  } catch (err) {
    if (!(err instanceof NotLiteral)) throw err;
    return { type: err.type !== "unknown" ? err.type : typeFromSyntax(tokens) };
  }
}

/** The type a non-literal expression evidently has, from its first token. */
function typeFromSyntax(tokens: readonly Token[]): ParamType {
  const first = tokens[0];
  if (first === undefined) return "unknown";
  if (first.kind === "string") return stringPrefix(first.text).includes("b") ? "unknown" : "str";
  if (first.kind !== "op") return "unknown";
  if (first.text === "[") return "list";
  if (first.text === "{") {
    const second = tokens[1];
    const inner = tokens.slice(1);
    if ((second?.kind === "op" && second.text === "}") || findTopLevel(inner, ":") >= 0) return "dict";
  }
  return "unknown";
}

class PythonLiteralParser {
  private i = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  /** An expression list: `1, 2` is a tuple, read as a list. */
  expression(): ParamValue {
    const first = this.item();
    if (!this.isOp(",")) return first;
    const items = [first];
    while (this.eatOp(",")) {
      if (this.done() || this.isOp(")")) break;
      items.push(this.item());
    }
    return items;
  }

  private item(): ParamValue {
    const token = this.next();
    if (token.kind === "op" && (token.text === "-" || token.text === "+")) {
      const operand = this.item();
      if (typeof operand === "bigint") return token.text === "-" ? -operand : operand;
      if (typeof operand === "number") return token.text === "-" ? -operand : operand;
      throw new NotLiteral();
    }
    if (token.kind === "number") return pythonNumber(token.text);
    if (token.kind === "string") return this.strings(token);
    if (token.kind === "name") return this.name(token.text);
    if (token.kind === "op" && token.text === "[") return this.sequence("]");
    if (token.kind === "op" && token.text === "(") {
      if (this.eatOp(")")) return [];
      const inner = this.expression();
      this.expectOp(")");
      return inner;
    }
    if (token.kind === "op" && token.text === "{") return this.dict();
    throw new NotLiteral();
  }

  private name(name: string): ParamValue {
    if (name === "True") return true;
    if (name === "False") return false;
    if (name === "None") return null;
    if (name === "float" && this.eatOp("(")) {
      const token = this.next();
      if (token.kind !== "string") throw new NotLiteral("float");
      const value = parsePythonFloat(this.strings(token));
      this.expectOp(")");
      if (value === undefined) throw new NotLiteral("float");
      return value;
    }
    throw new NotLiteral();
  }

  /** Adjacent string literals concatenate. */
  private strings(first: Token): string {
    let value = decodePythonString(first.text);
    for (let next = this.peek(); next?.kind === "string"; next = this.peek()) {
      this.i++;
      const more = decodePythonString(next.text);
      value = value === undefined || more === undefined ? undefined : value + more;
    }
    if (value === undefined) throw new NotLiteral(stringPrefix(first.text).includes("b") ? "unknown" : "str");
    return value;
  }

  private sequence(close: string): ParamValue[] {
    const items: ParamValue[] = [];
    while (!this.eatOp(close)) {
      items.push(this.item());
      if (!this.eatOp(",")) {
        this.expectOp(close);
        break;
      }
    }
    return items;
  }

  private dict(): ParamValue {
    const result: { [key: string]: ParamValue } = {};
    while (!this.eatOp("}")) {
      const key = this.item();
      if (!this.eatOp(":")) throw new NotLiteral(); // a set
      const value = this.item();
      if (typeof key !== "string") throw new NotLiteral("dict");
      setOwn(result, key, value);
      if (!this.eatOp(",")) {
        this.expectOp("}");
        break;
      }
    }
    return result;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private next(): Token {
    const token = this.tokens[this.i++];
    if (token === undefined) throw new NotLiteral();
    return token;
  }

  private isOp(text: string): boolean {
    const token = this.peek();
    return token?.kind === "op" && token.text === text;
  }

  private eatOp(text: string): boolean {
    if (!this.isOp(text)) return false;
    this.i++;
    return true;
  }

  private expectOp(text: string): void {
    if (!this.eatOp(text)) throw new NotLiteral();
  }
}

/** A Python number literal: ints become bigints, floats numbers; complex is not read. */
function pythonNumber(text: string): ParamValue {
  const clean = text.replaceAll("_", "");
  if (/[jJ]$/.test(clean)) throw new NotLiteral();
  if (/^0[xXoObB]/.test(clean)) return BigInt(clean);
  if (/[.eE]/.test(clean)) return Number(clean);
  if (/^0+[1-9]/.test(clean)) throw new NotLiteral(); // 012 is a SyntaxError in Python 3
  return BigInt(clean);
}

function stringPrefix(text: string): string {
  return (/^[a-zA-Z]*/.exec(text)?.[0] ?? "").toLowerCase();
}

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/**
 * The value of a str literal token, or undefined for bytes, f-strings and escapes it cannot
 * resolve (`\N{…}`).
 */
export function decodePythonString(text: string): string | undefined {
  const prefix = stringPrefix(text);
  if (prefix.includes("b") || prefix.includes("f")) return undefined;
  const quote = text.slice(prefix.length, prefix.length + 3);
  const q = quote === '"""' || quote === "'''" ? 3 : 1;
  const body = text.slice(prefix.length + q, text.length - q);
  if (prefix.includes("r")) return body;
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] ?? "";
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = body[i + 1] ?? "";
    const simple = SIMPLE_ESCAPES[next];
    let m: RegExpExecArray | null;
    if (simple !== undefined) {
      out += simple;
      i += 1;
    } else if (next === "\n" || next === "\r") {
      i += body.startsWith("\r\n", i + 1) ? 2 : 1;
    } else if ((m = /^[0-7]{1,3}/.exec(body.slice(i + 1, i + 4)))) {
      out += String.fromCodePoint(parseInt(m[0], 8));
      i += m[0].length;
    } else if ((m = /^(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/.exec(body.slice(i + 1, i + 10)))) {
      const cp = parseInt(m[0].slice(1), 16);
      if (cp > 0x10ffff) return undefined;
      out += String.fromCodePoint(cp);
      i += m[0].length;
    } else if (next === "x" || next === "u" || next === "U" || next === "N") {
      return undefined; // malformed, or a named escape we do not resolve
    } else {
      out += ch; // unknown escapes keep the backslash
    }
  }
  return out;
}
