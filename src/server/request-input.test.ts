import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import {
  MAX_FILE_NAME_BYTES,
  parseUrlEncoded,
  queryOf,
  safeFileName,
  truncateUtf8,
  uniqueName,
} from "./request-input.js";

describe("queryOf", () => {
  it("decodes the query string, keeping each key's last value and blank values", () => {
    expect(queryOf("/notebook/t?a=1&b=x+y&a=2&c=&d=%C3%A9")).toEqual({ a: "2", b: "x y", c: "", d: "é" });
    expect(queryOf("/notebook/t")).toEqual({});
  });

  it("keeps __proto__ as an ordinary key", () => {
    const query = queryOf("/n?__proto__=x");
    expect(Object.keys(query)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(query)).toBe(Object.prototype);
  });
});

describe("safeFileName", () => {
  it("keeps only a base name without control characters or leading dots", () => {
    expect(safeFileName("../../etc/passwd")).toBe("passwd");
    expect(safeFileName("C:\\Users\\me\\report.csv")).toBe("report.csv");
    expect(safeFileName(".hidden")).toBe("hidden");
    expect(safeFileName("a\u0000b\nc.txt")).toBe("abc.txt");
    expect(safeFileName("..")).toBe("upload");
    expect(safeFileName(".")).toBe("upload");
    expect(safeFileName("../")).toBe("upload");
    expect(safeFileName("")).toBe("upload");
    expect(safeFileName("résumé 1.pdf")).toBe("résumé 1.pdf");
  });
});

const bytes = (text: string) => Buffer.byteLength(text);

describe("safeFileName lengths", () => {
  it("shortens by UTF-8 bytes, before the extension, never inside a code point", () => {
    const name = safeFileName("é".repeat(200)); // 400 bytes
    expect(bytes(name)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
    expect(name).toBe("é".repeat(MAX_FILE_NAME_BYTES / 2));
    const csv = safeFileName("a".repeat(300) + ".csv");
    expect(csv).toBe("a".repeat(MAX_FILE_NAME_BYTES - 4) + ".csv");
    const emoji = safeFileName("😀".repeat(70) + ".tar.gz"); // 4 bytes each
    expect(emoji.endsWith(".gz")).toBe(true);
    expect(bytes(emoji)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
    expect([...emoji.slice(0, -3)].every((ch) => ch === "😀")).toBe(true);
  });

  it("treats a very long extension as part of the name", () => {
    const name = safeFileName("x." + "é".repeat(200));
    expect(bytes(name)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
    expect(name.startsWith("x.é")).toBe(true);
  });

  it("removes bidirectional controls and C1 control characters", () => {
    expect(safeFileName("invoice\u202Efdp.exe")).toBe("invoicefdp.exe");
    expect(safeFileName("a\u0085b\u200f.txt")).toBe("ab.txt");
  });
});

describe("uniqueName", () => {
  it("numbers repeated names before the extension, within the length limit", () => {
    const taken = new Set<string>();
    expect(uniqueName("report.csv", taken)).toBe("report.csv");
    expect(uniqueName("report.csv", taken)).toBe("report-2.csv");
    expect(uniqueName("report.csv", taken)).toBe("report-3.csv");
    const long = safeFileName("é".repeat(300) + ".csv");
    expect(uniqueName(long, taken)).toBe(long);
    const second = uniqueName(long, taken);
    expect(second).not.toBe(long);
    expect(second.endsWith("-2.csv")).toBe(true);
    expect(bytes(second)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
  });
});

describe("truncateUtf8", () => {
  it("keeps whole code points", () => {
    expect(truncateUtf8("aé😀b", 1)).toBe("a");
    expect(truncateUtf8("aé😀b", 2)).toBe("a");
    expect(truncateUtf8("aé😀b", 3)).toBe("aé");
    expect(truncateUtf8("aé😀b", 6)).toBe("aé");
    expect(truncateUtf8("aé😀b", 7)).toBe("aé😀");
    expect(truncateUtf8("aé😀b", 100)).toBe("aé😀b");
  });
});

describe("parseUrlEncoded", () => {
  it("reads what URLSearchParams reads", () => {
    const samples = [
      "a=1&b=x+y&a=2",
      "c=&d=%C3%A9&&e",
      "%zz=%&x=%4",
      "=v&k==x",
      "a%20b=c%2Bd",
      "%E2%82%AC=1",
    ];
    for (const text of samples) {
      expect(parseUrlEncoded(text, "the query string")).toEqual(
        Object.fromEntries(new URLSearchParams(text)),
      );
    }
  });

  it("refuses percent-escapes that are not UTF-8 (400) instead of writing U+FFFD", () => {
    for (const text of ["a=%FF", "%C3%28=1", "a=%C0%AF", "a=%ED%A0%80", "a=%F4%90%80%80", "a=%E2%82"]) {
      let err: unknown;
      try {
        parseUrlEncoded(text, "the query string");
      } catch (caught) {
        err = caught;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("bad-request");
      expect((err as AppError).message).toMatch(/^the query string is not valid UTF-8 once percent-decoded/);
    }
  });

  it("is what queryOf uses", () => {
    expect(() => queryOf("/notebook/t?name=%FF")).toThrow(/query string is not valid UTF-8/);
  });
});
