import { describe, expect, it } from "vitest";
import { FailureLimiter } from "./rate-limit.js";

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("FailureLimiter", () => {
  it("lets an address fail up to the limit, then makes it wait until its window ends", () => {
    const time = clock();
    const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, maxAddresses: 100 }, time.now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterS("10.0.0.1")).toBeUndefined();
      limiter.fail("10.0.0.1");
    }
    expect(limiter.retryAfterS("10.0.0.1")).toBe(60);
    expect(limiter.retryAfterS("10.0.0.2")).toBeUndefined(); // per address
    time.advance(45_500);
    expect(limiter.retryAfterS("10.0.0.1")).toBe(15);
    time.advance(14_500);
    expect(limiter.retryAfterS("10.0.0.1")).toBeUndefined();
    limiter.fail("10.0.0.1"); // a new window: one failure
    expect(limiter.retryAfterS("10.0.0.1")).toBeUndefined();
  });

  it("remembers a bounded number of addresses, forgetting the least recent first", () => {
    const time = clock();
    const limiter = new FailureLimiter({ maxFailures: 1, windowMs: 60_000, maxAddresses: 3 }, time.now);
    for (const address of ["a", "b", "c"]) limiter.fail(address);
    limiter.fail("a"); // a failed again: now the most recent
    limiter.fail("d");
    expect(limiter.size).toBe(3);
    expect(limiter.retryAfterS("b")).toBeUndefined(); // forgotten
    for (const address of ["a", "c", "d"]) expect(limiter.retryAfterS(address)).toBeGreaterThan(0);
    for (let i = 0; i < 10_000; i++) limiter.fail(`x${i}`);
    expect(limiter.size).toBe(3);
  });
});
