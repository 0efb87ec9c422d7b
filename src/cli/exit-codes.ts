/** Exit codes of `nbhook` (documented in README, "CLI reference" and "Managing webhooks"). */
export const EXIT = {
  ok: 0,
  /** A cell raised an error. */
  cellError: 1,
  /** Management commands: no such webhook, version, output or run (like grep finding nothing). */
  notFound: 1,
  /** Bad arguments, unreadable notebook or parameters, no suitable kernel; a request the server refused. */
  usage: 2,
  /** A cell or the whole run exceeded its time limit. */
  timeout: 3,
  /** The kernel process died during the run. */
  kernelDied: 4,
  /** Management commands: the server could not be reached, or it failed. */
  server: 5,
  /** A bug in nbhook. */
  internal: 70,
} as const;
