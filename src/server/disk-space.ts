/**
 * @module The free space of the home's disk, kept above `--min-free`: below it, new calls are
 * refused with 507 before the disk is full (a run needs room for its record, its executed
 * notebook and its answer), and the operator is warned once in the log (and told when it is back).
 * Measured with statfs at most once a second (a syscall: cheap, but not per request under load).
 */
import { statfsSync } from "node:fs";
import { AppError } from "../errors.js";

interface Logger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

const CHECK_EVERY_MS = 1000;

export class DiskSpace {
  private checkedAt = -Infinity;
  private freeBytes = Infinity;
  private low = false;

  constructor(
    private readonly home: string,
    private readonly minFreeBytes: number,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Bytes free for unprivileged writes on the home's disk (Infinity when it cannot be told). */
  free(): number {
    if (this.now() - this.checkedAt < CHECK_EVERY_MS) return this.freeBytes;
    this.checkedAt = this.now();
    try {
      const stats = statfsSync(this.home);
      this.freeBytes = stats.bavail * stats.bsize;
    } catch {
      this.freeBytes = Infinity; // the writes themselves will say what is wrong
    }
    return this.freeBytes;
  }

  /** Throws 507 when the home's disk has less than `--min-free` left. */
  check(): void {
    if (this.minFreeBytes <= 0) return;
    const free = this.free();
    const low = free < this.minFreeBytes;
    if (low !== this.low) {
      this.low = low;
      const fields = { home: this.home, freeBytes: free, minFreeBytes: this.minFreeBytes };
      if (low)
        this.log.warn(fields, "the home's disk is almost full: calls are refused (507) until space is freed");
      else this.log.info(fields, "the home's disk has room again: calls are taken");
    }
    if (!low) return;
    throw new AppError(
      "insufficient-storage",
      `the server's disk is almost full (${mib(free)} free, --min-free is ${mib(this.minFreeBytes)}): ` +
        `no call is taken until its operator frees space; try again later`,
      { retryAfterS: 60 },
    );
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
