/**
 * @module JSON text to ParamValue, keeping Python's int/float distinction: `3` is an int (bigint,
 * exact at any size), `3.0` and `1e3` are floats (number), as Python's `json.loads` reads them.
 * JSON.parse cannot do this on Node 20 (no access to a number's source text), so the text is
 * checked with JSON.parse (its error messages) and then read by the small parser below.
 */
import { AppError } from "../../errors.js";
import type { ParamValue } from "../types.js";
import { setOwn } from "./param-values.js";

/**
 * Parses JSON text. Throws AppError("parameter-invalid") naming `source` when it is not JSON.
 * Duplicate keys: the last value wins, at the first key's position (as in Python).
 */
export function parseJsonParameters(text: string, source = "JSON"): ParamValue {
  try {
    JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError("parameter-invalid", `${source} is not valid JSON: ${reason}`, { cause: err });
  }
  const parser = new JsonReader(text);
  parser.skipSpace();
  const value = parser.value();
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_BODY = /"(?:[^"\\]|\\.)*"/y;

class JsonReader {
  private pos = 0;

  constructor(private readonly text: string) {}

  skipSpace(): void {
    while (/[ \t\n\r]/.test(this.text[this.pos] ?? "")) this.pos++;
  }

  value(): ParamValue {
    const ch = this.text[this.pos];
    let result: ParamValue;
    if (ch === "{") result = this.object();
    else if (ch === "[") result = this.array();
    else if (ch === '"') result = this.string();
    else if (this.text.startsWith("true", this.pos)) result = this.word("true", true);
    else if (this.text.startsWith("false", this.pos)) result = this.word("false", false);
    else if (this.text.startsWith("null", this.pos)) result = this.word("null", null);
    else result = this.number();
    this.skipSpace();
    return result;
  }

  private word(word: string, value: ParamValue): ParamValue {
    this.pos += word.length;
    return value;
  }

  private number(): ParamValue {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw new Error(`JSON number expected at ${this.pos}`); // unreachable after JSON.parse
    this.pos = NUMBER.lastIndex;
    return match[1] === undefined && match[2] === undefined ? BigInt(match[0]) : Number(match[0]);
  }

  private string(): string {
    STRING_BODY.lastIndex = this.pos;
    const match = STRING_BODY.exec(this.text);
    if (!match) throw new Error(`JSON string expected at ${this.pos}`);
    this.pos = STRING_BODY.lastIndex;
    return JSON.parse(match[0]) as string;
  }

  private array(): ParamValue[] {
    const items: ParamValue[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.value());
      const ch = this.text[this.pos++];
      if (ch === "]") return items;
      this.skipSpace();
    }
  }

  private object(): { [key: string]: ParamValue } {
    const result: { [key: string]: ParamValue } = {};
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return result;
    }
    for (;;) {
      const key = this.string();
      this.skipSpace();
      this.pos++; // ':'
      this.skipSpace();
      setOwn(result, key, this.value());
      const ch = this.text[this.pos++];
      if (ch === "}") return result;
      this.skipSpace();
    }
  }
}
