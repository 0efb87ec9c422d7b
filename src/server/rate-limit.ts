/**
 * @module Failed authentications, limited per client address (docs/tokens.md, "Failed
 * sign-ins"): after MAX_FAILURES wrong tokens within WINDOW_MS, the address gets 429 with
 * Retry-After on every authenticated request (bearer, webhook-token polling, dashboard sign-in)
 * until its window ends, before its token is even looked at.
 *
 * Written by hand rather than with @fastify/rate-limit: that plugin counts requests, and what must
 * be counted here is failures only, known after the token was checked; a few lines keep that exact.
 * A success does not clear the count: else one valid `read` token could be used between guesses
 * to keep guessing an `admin` one. Memory is bounded: at most MAX_ADDRESSES addresses are
 * remembered, the least recently failing forgotten first.
 */

export interface FailureLimits {
  maxFailures: number;
  windowMs: number;
  maxAddresses: number;
}

export const DEFAULT_FAILURE_LIMITS: FailureLimits = {
  maxFailures: 10,
  windowMs: 60_000,
  maxAddresses: 10_000,
};

interface Entry {
  since: number;
  failures: number;
}

export class FailureLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly limits: FailureLimits = DEFAULT_FAILURE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds `address` must wait before it may try again, or undefined when it may now. */
  retryAfterS(address: string): number | undefined {
    const entry = this.entries.get(address);
    if (!entry) return undefined;
    const left = entry.since + this.limits.windowMs - this.now();
    if (left <= 0) {
      this.entries.delete(address);
      return undefined;
    }
    return entry.failures >= this.limits.maxFailures ? Math.max(1, Math.ceil(left / 1000)) : undefined;
  }

  /** Counts one failure of `address`. */
  fail(address: string): void {
    const at = this.now();
    const entry = this.entries.get(address);
    this.entries.delete(address); // re-inserted last: the Map's order is the eviction order
    const fresh = !entry || at - entry.since >= this.limits.windowMs;
    this.entries.set(
      address,
      fresh ? { since: at, failures: 1 } : { since: entry.since, failures: entry.failures + 1 },
    );
    while (this.entries.size > this.limits.maxAddresses) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** Addresses remembered (for tests of the bound). */
  get size(): number {
    return this.entries.size;
  }
}
