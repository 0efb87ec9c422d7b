/**
 * @module JSON text to ParamValue, keeping Python's int/float distinction: `3` is an int (bigint,
 * exact at any size), `3.0` and `1e3` are floats (number), as Python's `json.loads` reads them.
 * JSON.parse cannot do this on Node 20 (no access to a number's source text), so the text is
 * checked with JSON.parse (its error messages; V8's JSON.parse is not recursive, so any depth is
 * safe) and then read by the small parser below. That parser is not recursive either, and enforces
 * the limits of limits.ts while reading: nothing deeper than the nesting limit is ever built, and
 * no int over the digit limit is converted (BigInt parsing is quadratic).
 */
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import {
  hasTooManyDigits,
  MAX_INT_DIGITS,
  MAX_NESTING_DEPTH,
  memberName,
  tooDeep,
  tooManyDigits,
} from "./limits.js";
import { setOwn } from "./param-values.js";

export interface JsonParameterOptions {
  /**
   * The parameter the whole value is (`body`, or a query parameter's name), for the messages of
   * the limits; without it the top-level keys are the parameters' names (a parameters file).
   */
  name?: string;
}

/**
 * Parses JSON text. Throws AppError("parameter-invalid") naming `source` when it is not JSON, and
 * a ParameterLimitError (also "parameter-invalid") naming the parameter when it is nested deeper
 * than the limit or has an int with too many digits (see limits.ts).
 * Duplicate keys: the last value wins, at the first key's position (as in Python).
 */
export function parseJsonParameters(
  text: string,
  source = "JSON",
  options: JsonParameterOptions = {},
): ParamValue {
  try {
    JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError("parameter-invalid", `${source} is not valid JSON: ${reason}`, { cause: err });
  }
  return new JsonReader(text, options.name).read();
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A list or object being read, and what names it in messages. */
interface Open {
  container: ParamValue[] | { [key: string]: ParamValue };
  /** The key whose value comes next (objects). */
  key?: string;
  /** The parameter and its first member (`body.deep`), for the nesting message. */
  top: string;
}

/** Reads text that JSON.parse accepted (so nothing here checks the syntax again). */
class JsonReader {
  private pos = 0;
  private readonly stack: Open[] = [];
  /** A named value is one parameter; else the top level holds the parameters and is no level. */
  private readonly maxDepth: number;

  constructor(
    private readonly text: string,
    private readonly name: string | undefined,
  ) {
    this.maxDepth = name === undefined ? MAX_NESTING_DEPTH + 1 : MAX_NESTING_DEPTH;
  }

  read(): ParamValue {
    for (;;) {
      this.skipSpace();
      const ch = this.text[this.pos];
      let value: ParamValue;
      if (ch === "{" || ch === "[") {
        const opened = this.open(ch === "{" ? {} : []);
        if (opened === undefined) continue; // its first value comes next
        value = opened;
      } else {
        value = this.scalar(ch);
      }
      const done = this.close(value);
      if (done !== undefined) return done.value;
    }
  }

  /** Opens a container; answers it when it is empty (`{}`, `[]`), else undefined. */
  private open(container: ParamValue[] | { [key: string]: ParamValue }): ParamValue | undefined {
    const top = this.placeOfNext();
    if (this.stack.length >= this.maxDepth) throw tooDeep(top);
    this.pos++;
    this.skipSpace();
    const ch = this.text[this.pos];
    if (ch === "]" || ch === "}") {
      this.pos++;
      return container;
    }
    const open: Open = { container, top };
    this.stack.push(open);
    if (!Array.isArray(container)) open.key = this.key();
    return undefined;
  }

  /**
   * Puts a finished value into its container, closing every container it finishes; answers
   * `{value}` when the whole text is read, else undefined (the next value follows).
   */
  private close(value: ParamValue): { value: ParamValue } | undefined {
    for (;;) {
      const open = this.stack.at(-1);
      if (!open) return { value };
      if (Array.isArray(open.container)) open.container.push(value);
      else setOwn(open.container, open.key ?? "", value);
      this.skipSpace();
      if (this.text[this.pos++] === ",") {
        if (!Array.isArray(open.container)) open.key = this.key();
        return undefined;
      }
      this.stack.pop(); // `]` or `}`
      value = open.container;
    }
  }

  /** The name of the value about to be read, as far as the messages need it. */
  private placeOfNext(): string {
    const parent = this.stack.at(-1);
    if (parent) return parent.top;
    return this.name ?? "the value";
  }

  /** The full path of the value about to be read (for an int's message). */
  private pathOfNext(): string {
    let path = this.name ?? "";
    for (const open of this.stack) {
      const member = Array.isArray(open.container) ? `[${open.container.length}]` : (open.key ?? "");
      if (Array.isArray(open.container)) path = `${path}${member}`;
      else path = path === "" ? member : memberName(path, member);
    }
    return path || "the value";
  }

  /** An object's key and the `:` after it; the key names the object's members in messages. */
  private key(): string {
    this.skipSpace();
    const key = this.string();
    this.skipSpace();
    this.pos++; // ':'
    const open = this.stack.at(-1);
    // The first level of a named value, or the parameters themselves (a file's top level).
    if (open && this.stack.length === 1) {
      open.top = this.name === undefined ? key : memberName(this.name, key);
    }
    return key;
  }

  private scalar(ch: string | undefined): ParamValue {
    if (ch === '"') return this.string();
    if (ch === "t") return this.word(4, true);
    if (ch === "f") return this.word(5, false);
    if (ch === "n") return this.word(4, null);
    return this.number();
  }

  private word(length: number, value: ParamValue): ParamValue {
    this.pos += length;
    return value;
  }

  private number(): ParamValue {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw new Error(`JSON number expected at ${this.pos}`); // unreachable after JSON.parse
    this.pos = NUMBER.lastIndex;
    if (match[1] !== undefined || match[2] !== undefined) return Number(match[0]);
    if (hasTooManyDigits(match[0])) throw tooManyDigits(this.pathOfNext(), MAX_INT_DIGITS);
    return BigInt(match[0]);
  }

  /**
   * A string: scanned by hand for its closing quote (a regular expression over a string of
   * megabytes overflows the regexp engine's stack), then decoded by JSON.parse.
   */
  private string(): string {
    const start = this.pos;
    let i = start + 1;
    let escaped = false;
    for (;;) {
      const code = this.text.charCodeAt(i);
      if (Number.isNaN(code)) throw new Error(`JSON string expected at ${start}`); // unreachable
      if (!escaped && code === QUOTE) break;
      escaped = !escaped && code === BACKSLASH;
      i++;
    }
    this.pos = i + 1;
    const body = this.text.slice(start, this.pos);
    return body.includes("\\") ? (JSON.parse(body) as string) : body.slice(1, -1);
  }

  private skipSpace(): void {
    for (;;) {
      const ch = this.text[this.pos];
      if (ch !== " " && ch !== "\t" && ch !== "\n" && ch !== "\r") return;
      this.pos++;
    }
  }
}
