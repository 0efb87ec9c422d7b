/**
 * @module The statuses of a run, defined once: the store records them, the API and the SDK show
 * them, runs/ moves a run through them (docs/glossary.md, "run").
 *
 * queued → running → ok | error | timeout | died; a queued run that never starts ends cancelled.
 */
import { z } from "zod";

export const RUN_STATUSES = ["queued", "running", "ok", "error", "timeout", "died", "cancelled"] as const;

export const runStatusSchema = z.enum(RUN_STATUSES);

/**
 * `queued`: accepted, waiting for a free slot (server `--max-runs`, webhook `max_concurrency`);
 * `running`: on a kernel; `ok`: every cell ran; `error`: a cell raised, or the run could not be
 * set up; `timeout`: a cell or the whole run took too long; `died`: the kernel process exited
 * (or the server stopped) during the run; `cancelled`: left the queue without running (caller
 * gone, queue wait over, server stopping).
 */
export type RunStatus = z.infer<typeof runStatusSchema>;

/** A run's status once it is over. */
export type FinishedRunStatus = Exclude<RunStatus, "queued" | "running">;

/** How one execution of a notebook ended (a run that ran; `cancelled` ones never did). */
export type ExecutionStatus = Exclude<FinishedRunStatus, "cancelled">;
