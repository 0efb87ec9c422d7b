/**
 * @module Reads the initializer of a JavaScript/TypeScript declaration when it is a JSON-like
 * literal: an integral number literal (`3`, `0x1f`, `10n`) is an int, one with `.` or an exponent
 * a float, plus NaN, Infinity, strings, templates without substitutions, arrays and plain objects.
 */
import type { ParamValue } from "../types.js";
import { setOwn, typeOfValue } from "./param-values.js";
import type { Token } from "./source-tokens.js";
import type { ParamType, ReadValue } from "./types.js";

class NotLiteral extends Error {
  constructor(readonly type: ParamType = "unknown") {
    super("not a literal");
  }
}

export function readJsValue(input: readonly Token[]): ReadValue {
  const tokens = stripAsConst(input);
  if (tokens.length === 0) return { type: "unknown" };
  try {
    const parser = new JsLiteralParser(tokens);
    const value = parser.item();
    if (!parser.done()) throw new NotLiteral();
    return { type: typeOfValue(value), value };
  } catch (err) {
    if (!(err instanceof NotLiteral)) throw err;
    return { type: err.type !== "unknown" ? err.type : typeFromSyntax(tokens) };
  }
}

function stripAsConst(tokens: readonly Token[]): readonly Token[] {
  const n = tokens.length;
  return n >= 2 && tokens[n - 2]?.text === "as" && tokens[n - 1]?.text === "const"
    ? tokens.slice(0, n - 2)
    : tokens;
}

function typeFromSyntax(tokens: readonly Token[]): ParamType {
  const first = tokens[0];
  if (first?.kind === "string") return "str";
  if (first?.kind === "op" && first.text === "[") return "list";
  if (first?.kind === "op" && first.text === "{") return "dict";
  return "unknown";
}

class JsLiteralParser {
  private i = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  item(): ParamValue {
    const token = this.next();
    if (token.kind === "op" && (token.text === "-" || token.text === "+")) {
      const operand = this.item();
      if (typeof operand === "bigint" || typeof operand === "number")
        return token.text === "-" ? -operand : operand;
      throw new NotLiteral();
    }
    if (token.kind === "number") return jsNumber(token.text);
    if (token.kind === "string") {
      const value = decodeJsString(token.text);
      if (value === undefined) throw new NotLiteral("str");
      return value;
    }
    if (token.kind === "name") {
      const value = NAMED[token.text];
      if (value === undefined) throw new NotLiteral();
      return value;
    }
    if (token.kind === "op" && token.text === "[") return this.array();
    if (token.kind === "op" && token.text === "{") return this.object();
    throw new NotLiteral();
  }

  private array(): ParamValue[] {
    const items: ParamValue[] = [];
    while (!this.eatOp("]")) {
      items.push(this.item());
      if (!this.eatOp(",")) {
        this.expectOp("]");
        break;
      }
    }
    return items;
  }

  private object(): ParamValue {
    const result: { [key: string]: ParamValue } = {};
    while (!this.eatOp("}")) {
      const keyToken = this.next();
      let key: string | undefined;
      if (keyToken.kind === "name") key = keyToken.text;
      else if (keyToken.kind === "string" && keyToken.text[0] !== "`") key = decodeJsString(keyToken.text);
      else if (keyToken.kind === "number") key = String(Number(jsNumber(keyToken.text)));
      if (key === undefined || !this.eatOp(":")) throw new NotLiteral("dict");
      setOwn(result, key, this.item());
      if (!this.eatOp(",")) {
        this.expectOp("}");
        break;
      }
    }
    return result;
  }

  private next(): Token {
    const token = this.tokens[this.i++];
    if (token === undefined) throw new NotLiteral();
    return token;
  }

  private eatOp(text: string): boolean {
    const token = this.tokens[this.i];
    if (token?.kind !== "op" || token.text !== text) return false;
    this.i++;
    return true;
  }

  private expectOp(text: string): void {
    if (!this.eatOp(text)) throw new NotLiteral();
  }
}

const NAMED: Record<string, ParamValue> = {
  true: true,
  false: false,
  null: null,
  undefined: null,
  NaN: NaN,
  Infinity: Infinity,
};

function jsNumber(text: string): ParamValue {
  const clean = text.replaceAll("_", "");
  if (clean.endsWith("n")) return BigInt(clean.slice(0, -1));
  if (/^0[xXoObB]/.test(clean)) return BigInt(clean);
  if (/^0\d/.test(clean)) throw new NotLiteral(); // legacy octal, a SyntaxError in modules
  if (/[.eE]/.test(clean)) return Number(clean);
  return BigInt(clean);
}

const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", v: "\v" };

/**
 * The value of a string or template token, or undefined for a template with substitutions or an
 * escape that is an error in strict code (legacy octal).
 */
export function decodeJsString(text: string): string | undefined {
  if (text[0] === "`" && /(^|[^\\])(\\\\)*\$\{/.test(text)) return undefined;
  const body = text.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] ?? "";
    if (ch !== "\\") {
      out += text[0] === "`" && ch === "\r" ? (body[i + 1] === "\n" ? "" : "\n") : ch;
      continue;
    }
    const next = body[i + 1] ?? "";
    const rest = body.slice(i + 1);
    let m: RegExpExecArray | null;
    if (SIMPLE_ESCAPES[next] !== undefined) {
      out += SIMPLE_ESCAPES[next];
      i += 1;
    } else if (next === "0" && !/^0\d/.test(rest)) {
      out += "\0";
      i += 1;
    } else if (/^[\r\n\u2028\u2029]/.test(next)) {
      i += rest.startsWith("\r\n") ? 2 : 1; // line continuation
    } else if ((m = /^(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|u\{([0-9a-fA-F]+)\})/.exec(rest))) {
      const cp = parseInt(m[1] ?? m[2] ?? m[3] ?? "", 16);
      if (cp > 0x10ffff) return undefined;
      out += m[2] !== undefined ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      i += m[0].length;
    } else if (/^[0-9xu]/.test(next)) {
      return undefined;
    } else {
      out += next;
      i += 1;
    }
  }
  return out;
}
