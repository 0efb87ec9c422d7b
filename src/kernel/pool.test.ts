import { describe, expect, it } from "vitest";
import type { KernelSpec } from "./kernelspec.js";
import { KernelPool } from "./pool.js";

const spec = { name: "broken", language: "python", argv: ["false"], env: {} } as unknown as KernelSpec;

describe("KernelPool", () => {
  it("closed while a failed start backs off: returns at once and starts nothing more", async () => {
    let starts = 0;
    const pool = new KernelPool({
      size: 1,
      start: async () => {
        starts++;
        throw new Error("cannot start");
      },
    });
    pool.warm(spec);
    // Two failures: the third start waits 2 s.
    for (let i = 0; i < 100 && starts < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(starts).toBe(2);
    const t0 = Date.now();
    await pool.close();
    expect(Date.now() - t0).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 50));
    expect(starts).toBe(2);
  });
});
