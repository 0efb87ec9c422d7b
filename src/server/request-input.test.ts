import { describe, expect, it } from "vitest";
import { queryOf, safeFileName } from "./request-input.js";

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
    expect(safeFileName("")).toBe("upload");
    expect(safeFileName("résumé 1.pdf")).toBe("résumé 1.pdf");
  });
});
