import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { resolveServerConfig } from "./config.js";

describe("--min-free", () => {
  it("reads sizes with units (powers of 1024), bytes, and 0 for no check; 100 MiB by default", () => {
    const minFree = (text?: string, env: NodeJS.ProcessEnv = {}) =>
      resolveServerConfig({ minFreeBytes: text }, env).minFreeBytes;
    expect(minFree()).toBe(100 * 1024 ** 2);
    expect(minFree("0")).toBe(0);
    expect(minFree("5000")).toBe(5000);
    expect(minFree("500M")).toBe(500 * 1024 ** 2);
    expect(minFree("2GiB")).toBe(2 * 1024 ** 3);
    expect(minFree("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(minFree(undefined, { NBHOOK_MIN_FREE: "64k" })).toBe(64 * 1024);
  });

  it("names the flag or variable and what it must be", () => {
    expect(() => resolveServerConfig({ minFreeBytes: "lots" }, {})).toThrow(AppError);
    expect(() => resolveServerConfig({}, { NBHOOK_MIN_FREE: "-1" })).toThrow(
      /NBHOOK_MIN_FREE must be a size such as 100M, 2G or a number of bytes \(0: no check\) \(got "-1"\)/,
    );
  });
});
