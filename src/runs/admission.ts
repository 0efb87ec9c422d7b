/**
 * @module Admission control for webhook runs (issue 4, "Concurrency and load"): at most `maxRuns`
 * runs at once in the server, and at most `limit` at once per key (a webhook's `max_concurrency`).
 * A call beyond those waits in one bounded queue; when the queue is full, `enter` refuses at once.
 * A waiting call leaves the queue when it is cancelled (its client went away), when it has waited
 * `maxWaitMs`, or when the admission closes (server shutdown). A queue entry is a few fields and two
 * callbacks, so memory stays bounded by `maxQueue` whatever the load.
 *
 * Order: a freed slot goes to the oldest waiting call that may run (one whose key is under its own
 * limit). Calls of one key keep their order; a call held back by its own key's limit does not hold
 * back the calls of other keys behind it.
 *
 * Written by hand: the npm queues (p-limit, p-queue) have one limit and no per-key limit, bounded
 * length, cancellation and Retry-After estimate, which is all this module is.
 */
import type { CancelReason, Refusal } from "./types.js";

/** Why a call will not run: refused at `enter`, or cancelled while it waited. */
export type Reason = Refusal | CancelReason;

/** A call that will not run: why, and when trying again makes sense (seconds, at least 1). */
export class AdmissionRefused extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = "AdmissionRefused";
  }
}

/** The right to run; `release` (idempotent) when the run is over. */
export interface Slot {
  release(): void;
}

export interface Ticket {
  /** queued: waiting; running: holds a slot; done: released; refused: will not run. */
  readonly state: "queued" | "running" | "done" | "refused";
  /** The slot once admitted; rejects with AdmissionRefused when the call leaves the queue. */
  readonly slot: Promise<Slot>;
  /** Leaves the queue (the caller is gone); does nothing once admitted. */
  cancel(): void;
}

export interface AdmissionOptions {
  /** Runs at once in the server (at least 1). */
  maxRuns: number;
  /** Calls waiting at once (0: a call that cannot run at once is refused). */
  maxQueue: number;
  /** Recent run durations kept for the Retry-After estimate. @default 20 */
  history?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface EnterRequest {
  key: string;
  /** Runs of this key at once; null for no own limit. */
  limit: number | null;
  /** Longest wait in the queue, then refused with "queue-timeout"; 0 or undefined for none. */
  maxWaitMs?: number;
}

class Entry implements Ticket, Slot {
  state: Ticket["state"] = "queued";
  readonly slot: Promise<Slot>;
  startedAt = 0;
  timer?: NodeJS.Timeout;
  private settle!: { resolve: (slot: Slot) => void; reject: (err: AdmissionRefused) => void };

  constructor(
    private readonly owner: Admission,
    readonly key: string,
    readonly limit: number | null,
  ) {
    this.slot = new Promise<Slot>((resolve, reject) => (this.settle = { resolve, reject }));
    this.slot.catch(() => undefined); // a refusal nobody awaits is not an unhandled rejection
  }

  admit(now: number): void {
    clearTimeout(this.timer);
    this.state = "running";
    this.startedAt = now;
    this.settle.resolve(this);
  }

  refuse(err: AdmissionRefused): void {
    clearTimeout(this.timer);
    this.state = "refused";
    this.settle.reject(err);
  }

  cancel(): void {
    if (this.state === "queued")
      this.owner.leave(this, "caller-gone", "the caller went away while the call waited in the queue");
  }

  release(): void {
    if (this.state === "running") this.owner.finish(this);
  }
}

export class Admission {
  readonly maxRuns: number;
  readonly maxQueue: number;
  private readonly queue: Entry[] = [];
  private readonly runningEntries = new Set<Entry>();
  private readonly runningByKey = new Map<string, number>();
  private readonly durations: number[] = [];
  private readonly history: number;
  private readonly now: () => number;
  private closed = false;

  constructor(options: AdmissionOptions) {
    this.maxRuns = Math.max(1, Math.floor(options.maxRuns));
    this.maxQueue = Math.max(0, Math.floor(options.maxQueue));
    this.history = options.history ?? 20;
    this.now = options.now ?? Date.now;
  }

  get running(): number {
    return this.runningEntries.size;
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Admits the call at once when it may run, else queues it. Throws AdmissionRefused
   * ("queue-full", "closing") when it can do neither.
   */
  enter(request: EnterRequest): Ticket {
    if (this.closed) throw this.refusal("closing", "the server is shutting down");
    const limit = request.limit === null ? null : Math.max(1, Math.floor(request.limit));
    const entry = new Entry(this, request.key, limit);
    if (this.fits(entry)) {
      this.start(entry);
      return entry;
    }
    if (this.queue.length >= this.maxQueue) {
      throw this.refusal(
        "queue-full",
        `the server is busy: ${this.running} runs going and ${this.queue.length} calls waiting (the most it queues)`,
      );
    }
    this.queue.push(entry);
    if (request.maxWaitMs && request.maxWaitMs > 0) {
      const seconds = Math.round(request.maxWaitMs / 100) / 10;
      entry.timer = setTimeout(
        () =>
          this.leave(
            entry,
            "queue-timeout",
            `the call waited ${seconds} s in the queue (the webhook's time limit) without a free slot`,
          ),
        request.maxWaitMs,
      );
      entry.timer.unref();
    }
    return entry;
  }

  /** Refuses every waiting call ("closing") and every later one; running ones keep their slots. */
  close(): void {
    this.closed = true;
    for (const entry of this.queue.splice(0))
      entry.refuse(this.refusal("closing", "the server is shutting down"));
  }

  /**
   * Seconds until a slot is likely to free: for each run going, the average of recent run
   * durations minus how long it has been running (with no history yet: as long again as it has
   * run), the soonest of these; at least 1, at most an hour.
   */
  retryAfterSeconds(): number {
    const now = this.now();
    const average = this.durations.length
      ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length
      : undefined;
    let soonest = Infinity;
    for (const entry of this.runningEntries) {
      const elapsed = now - entry.startedAt;
      soonest = Math.min(soonest, average === undefined ? elapsed : Math.max(average - elapsed, 0));
    }
    if (!Number.isFinite(soonest)) soonest = average ?? 0;
    return Math.min(3600, Math.max(1, Math.ceil(soonest / 1000)));
  }

  /** @internal Entry.cancel and the wait timer. */
  leave(entry: Entry, reason: CancelReason, message: string): void {
    const index = this.queue.indexOf(entry);
    if (index < 0) return;
    this.queue.splice(index, 1);
    entry.refuse(this.refusal(reason, message));
  }

  /** @internal Entry.release. */
  finish(entry: Entry): void {
    entry.state = "done";
    this.runningEntries.delete(entry);
    const left = (this.runningByKey.get(entry.key) ?? 1) - 1;
    if (left > 0) this.runningByKey.set(entry.key, left);
    else this.runningByKey.delete(entry.key);
    this.durations.push(this.now() - entry.startedAt);
    if (this.durations.length > this.history) this.durations.shift();
    this.dispatch();
  }

  private fits(entry: Entry): boolean {
    if (this.runningEntries.size >= this.maxRuns) return false;
    return entry.limit === null || (this.runningByKey.get(entry.key) ?? 0) < entry.limit;
  }

  private start(entry: Entry): void {
    this.runningEntries.add(entry);
    this.runningByKey.set(entry.key, (this.runningByKey.get(entry.key) ?? 0) + 1);
    entry.admit(this.now());
  }

  /** Oldest first, every waiting call that may run now. */
  private dispatch(): void {
    for (let i = 0; i < this.queue.length && this.runningEntries.size < this.maxRuns;) {
      const entry = this.queue[i]!;
      if (this.fits(entry)) {
        this.queue.splice(i, 1);
        this.start(entry);
      } else {
        i++;
      }
    }
  }

  private refusal(reason: Reason, message: string): AdmissionRefused {
    return new AdmissionRefused(reason, message, this.retryAfterSeconds());
  }
}
