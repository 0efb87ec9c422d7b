/** Exit codes of `nbhook` (documented in README, "CLI reference"). */
export const EXIT = {
  ok: 0,
  /** A cell raised an error. */
  cellError: 1,
  /** Bad arguments, unreadable notebook or parameters, no suitable kernel. */
  usage: 2,
  /** A cell or the whole run exceeded its time limit. */
  timeout: 3,
  /** The kernel process died during the run. */
  kernelDied: 4,
  /** A bug in nbhook. */
  internal: 70,
} as const;
