import { describe, expect, it } from "vitest";
import { isHisto, newHisto } from "./histo.js";

describe("newHisto", () => {
  it("makes 20-digit, strictly increasing ids in Naas's format", () => {
    const ids = Array.from({ length: 1000 }, () => newHisto());
    expect(ids.every(isHisto)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    expect(newHisto(new Date(2020, 9, 8, 10, 12, 21, 879).getTime() + 10_000_000_000)).toMatch(/^\d{20}$/);
  });

  it("formats local time as %Y%m%d%H%M%S%f", () => {
    const at = new Date(2999, 9, 8, 10, 12, 21, 879).getTime();
    expect(newHisto(at)).toMatch(/^29991008101221879\d{3}$/);
  });
});
