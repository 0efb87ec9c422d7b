/**
 * @module The live feed of runs behind `GET /api/runs/events`: while someone listens, the newest
 * runs are read from the store every `intervalMs` and each one that is new or changed (status,
 * answer status, duration) is handed to the listeners.
 *
 * Read from the store rather than told by the calls so that it works the same on one process and
 * on a cluster (where a run is queued by one API node and finished by a worker); one poll serves
 * every listener of the server, and none runs while nobody listens.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Run, Store } from "../store/index.js";

export interface RunListener {
  /** A run that is new or changed since the last poll. */
  run(run: Run): void;
  /**
   * Called once, when the feed has read the runs it compares with: a run that changes after this
   * reaches `run`, so a page that loads the list now misses none.
   */
  ready(): void;
}

/**
 * How many of the newest runs each poll compares: a run that more than this many newer runs have
 * pushed down is not followed to its end (a page that reloads shows it).
 */
const WINDOW = 200;

export class RunFeed {
  private readonly listeners = new Set<RunListener>();
  private timer: NodeJS.Timeout | undefined;
  private seen: Map<string, string> | undefined;
  private polling = false;
  private waiting: RunListener[] = [];
  private lastWarning = 0;

  constructor(
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = 500,
  ) {}

  /** Starts the polling with the first listener; the returned function stops listening. */
  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    if (this.seen) listener.ready();
    else this.waiting.push(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
      void this.poll();
    }
    return () => {
      this.listeners.delete(listener);
      this.waiting = this.waiting.filter((l) => l !== listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.seen = undefined;
    this.waiting = [];
  }

  /** One listener's failure is its own: the others are still told. */
  private tell(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log.warn({ err }, "a listener of the live run feed failed");
    }
  }

  private async poll(): Promise<void> {
    if (this.polling) return; // a slow store: skip a beat rather than pile up reads
    this.polling = true;
    try {
      const runs = await this.store.listRuns({ limit: WINDOW });
      const previous = this.seen;
      const next = new Map<string, string>();
      const changed: Run[] = [];
      for (const run of runs) {
        const state = `${run.status}|${run.httpStatus}|${run.durationMs}|${run.startedAt}`;
        next.set(run.id, state);
        if (previous && previous.get(run.id) !== state) changed.push(run);
      }
      if (!this.timer) return; // stopped while reading
      this.seen = next;
      // Oldest first, so that a listener sees a run queued before the one queued after it.
      for (const run of changed.reverse())
        for (const listener of this.listeners) this.tell(() => listener.run(run));
      const waiting = this.waiting;
      this.waiting = [];
      for (const listener of waiting) this.tell(() => listener.ready());
    } catch (err) {
      // A store that is down fails every poll: said once a minute, not twice a second.
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.log.warn({ err }, "the live run feed could not read the runs; it keeps trying");
      }
    } finally {
      this.polling = false;
    }
  }
}
