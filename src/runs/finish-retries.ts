/**
 * @module Run records that could not be closed (the store's disk full, its database locked),
 * closed later: every finish that failed is tried again every few seconds until the store takes
 * it, and once more when the server stops. So an error never leaves a record `running`; what a
 * SIGKILL leaves is closed as `died` at the next start (store.closeInterruptedRuns).
 */
import { coerceError } from "../errors.js";
import type { RunLogger } from "./types.js";

export class FinishRetries {
  private readonly pending = new Map<string, () => Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly log: RunLogger,
    private readonly intervalMs = 2000,
  ) {}

  /** Keeps trying `finish` for `runId` (the latest one given wins) until it succeeds. */
  add(runId: string, finish: () => Promise<unknown>): void {
    this.pending.set(runId, finish);
    this.timer ??= setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Tries every pending finish once; resolves with how many are still pending. */
  async flush(): Promise<number> {
    this.flushing ??= this.tryAll().finally(() => (this.flushing = undefined));
    await this.flushing;
    return this.pending.size;
  }

  /** A last try; what still fails is logged (the next start closes those records as `died`). */
  async close(): Promise<void> {
    const left = await this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (left > 0) {
      this.log.error(
        { runs: [...this.pending.keys()] },
        "run records could not be closed before the stop: the next start closes them as died",
      );
    }
  }

  private async tryAll(): Promise<void> {
    for (const [runId, finish] of [...this.pending]) {
      try {
        await finish();
        this.pending.delete(runId);
        this.log.info({ run: runId }, "the run's record was closed once the store took writes again");
      } catch (err) {
        this.log.debug?.(
          { run: runId, err: coerceError(err).message },
          "the run's record still cannot be closed",
        );
      }
    }
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
