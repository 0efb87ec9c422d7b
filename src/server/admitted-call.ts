/**
 * @module A prepared webhook call from admission to answer (docs/api.md, "Load" and "Asynchronous
 * calls"). Parameters were read and checked before (404, 413, 422 never queue).
 *
 * - The call enters the admission (src/runs/admission.ts): it runs at once, waits in the queue, or
 *   is refused (queue full, server stopping): 503 `{"error": "busy"}` with `Retry-After`.
 * - Its run record is created then: `running`, or `queued` while it waits (`startedAt` is set
 *   again when it starts). A queued call whose caller disconnects, that waited longer than the
 *   webhook's time limit, or that is still waiting when the server stops, never runs: its record
 *   ends `cancelled` (http_status 499 for a caller gone, else 503) and the caller, if still there,
 *   gets 503 busy. Time in the queue does not count against the run's time limit.
 * - `Prefer: respond-async`: 202 at once with `Location: {base}/api/runs/{id}`; `Prefer: wait=N`:
 *   the answer if it comes within N seconds, else the same 202. Either way the answer is kept for
 *   `GET /api/runs/{id}/response` (the same status, headers and bytes).
 * Every run, foreground or background, is in `jobs` until it is over, so the server waits for
 * them when it closes.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";
import { AdmissionRefused, type Refusal, type Slot, type Ticket } from "../runs/admission.js";
import { createRunRecord, executeWebhookRun, type PreparedRun, type WebhookRunDeps } from "../runs/webhook-run.js";
import type { Run } from "../store/index.js";
import { parsePrefer } from "./prefer.js";
import type { ServerDeps } from "./types.js";
import { webhookAnswer, type TriggerAnswer } from "./webhook-response.js";

export interface CallContext {
  deps: ServerDeps;
  runDeps: WebhookRunDeps;
  prepared: PreparedRun;
  request: FastifyRequest;
  reply: FastifyReply;
  /** Runs not over yet; the server awaits them on close. */
  jobs: Set<Promise<unknown>>;
  /** Removes what the call left behind (uploaded files) when it never runs. */
  /** Removes what the call brought (uploaded files): when it will not run, and after it ran. */
  discard(): Promise<void>;
}

/** `error.ename` of a cancelled run, by why it left the queue. */
const CANCELLED_ENAME: Record<Refusal, string> = {
  "queue-full": "QueueFull",
  "queue-timeout": "QueueTimeout",
  cancelled: "CallerGone",
  closing: "ServerStopping",
};

/** HTTP status recorded for a call whose caller left while it waited (nginx's "client closed request"). */
const CALLER_GONE = 499;

export async function answerCall(ctx: CallContext): Promise<FastifyReply> {
  const { deps, prepared, request, reply } = ctx;
  const { webhook } = prepared;
  const { waitMs } = parsePrefer(request.headers.prefer);
  let ticket: Ticket;
  try {
    ticket = deps.admission.enter({
      key: webhook.id,
      // A reuse-mode webhook has one kernel serving calls in turn: more than one of its calls
      // holding a run slot would only keep other webhooks waiting.
      limit: webhook.settings.mode === "reuse" ? 1 : webhook.settings.maxConcurrency,
      maxWaitMs: webhook.timeoutMs,
    });
  } catch (err) {
    if (!(err instanceof AdmissionRefused)) throw err;
    await ctx.discard();
    reply.header("retry-after", String(err.retryAfterS));
    throw new AppError("busy", `${err.message}: try again in ${err.retryAfterS} s`);
  }
  let run: Run;
  try {
    run = await createRunRecord(deps.store, prepared, ticket.state === "queued");
  } catch (err) {
    ticket.cancel();
    void ticket.slot.then((slot) => slot.release(), () => undefined);
    throw err;
  }

  const keepResponse = waitMs !== undefined;
  let detached = false;
  const job = runWhenAdmitted(ctx, ticket, run, keepResponse);
  const tracked = job.then(
    () => undefined,
    (err: unknown) => {
      if (detached) request.log.error({ err, webhook: webhook.path, run: run.id }, "background run failed");
    },
  );
  ctx.jobs.add(tracked);
  void tracked.finally(() => ctx.jobs.delete(tracked));

  if (waitMs === 0) {
    detached = true;
    return accepted(reply, deps.baseUrl(), run.id, ticket);
  }
  const unwatch = whenCallerGone(reply, () => ticket.cancel());
  let answer: TriggerAnswer | undefined;
  try {
    answer = waitMs === undefined ? await job : await within(job, waitMs);
  } finally {
    unwatch();
  }
  if (!answer) {
    detached = true;
    return accepted(reply, deps.baseUrl(), run.id, ticket);
  }
  if (answer.refusedHeaders) {
    request.log.warn({ webhook: webhook.path, headers: answer.refusedHeaders }, "response headers the notebook may not set were dropped");
  }
  return reply.status(answer.status).headers(answer.headers).send(answer.body);
}

/** Waits for the slot, runs, records; a call that never gets a slot ends `cancelled` with a 503 answer. */
async function runWhenAdmitted(ctx: CallContext, ticket: Ticket, run: Run, keepResponse: boolean): Promise<TriggerAnswer> {
  const { deps, prepared } = ctx;
  const { webhook } = prepared;
  let slot: Slot;
  try {
    slot = await ticket.slot;
  } catch (err) {
    if (!(err instanceof AdmissionRefused)) throw err;
    return cancel(ctx, run, err, keepResponse, ctx.request.log);
  }
  try {
    const started = run.status === "queued" ? await deps.store.startRun(run.id) : run;
    const { answer } = await executeWebhookRun(
      ctx.runDeps,
      prepared,
      (outcome) => webhookAnswer({ ...outcome, notebookName: webhook.name, params: webhook.params }),
      { run: started, keepResponse },
    );
    return answer;
  } finally {
    slot.release();
    // Uploaded files were the run's input; the answer (even one made of them) is in memory now.
    await ctx.discard().catch((err: unknown) => ctx.request.log.warn({ err }, "could not remove a run's uploaded files"));
  }
}

async function cancel(
  ctx: CallContext,
  run: Run,
  err: AdmissionRefused,
  keepResponse: boolean,
  log: FastifyBaseLogger,
): Promise<TriggerAnswer> {
  const gone = err.reason === "cancelled";
  const answer = busyAnswer(run.id, err);
  await ctx.discard();
  await ctx.deps.store.finishRun(run.id, {
    status: "cancelled",
    durationMs: Date.now() - Date.parse(run.queuedAt ?? run.startedAt),
    error: { ename: CANCELLED_ENAME[err.reason], evalue: err.message },
    httpStatus: gone ? CALLER_GONE : answer.status,
    response: keepResponse && !gone ? answer : undefined,
  });
  log.warn({ webhook: ctx.prepared.webhook.path, run: run.id, reason: err.reason }, "queued call cancelled");
  return answer;
}

/** 503 `{"error": "busy", "message"}` with Retry-After, for a call that left the queue. */
function busyAnswer(runId: string, err: AdmissionRefused): TriggerAnswer {
  return {
    status: 503,
    headers: {
      "x-nbhook-run-id": runId,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "retry-after": String(err.retryAfterS),
      "content-type": "application/json; charset=utf-8",
    },
    body: Buffer.from(JSON.stringify({ error: "busy", message: `${err.message}: try again in ${err.retryAfterS} s` })),
  };
}

/** 202 with the run to poll. */
function accepted(reply: FastifyReply, baseUrl: string, runId: string, ticket: Ticket): FastifyReply {
  const url = `${baseUrl}/api/runs/${runId}`;
  return reply
    .status(202)
    .headers({
      location: url,
      "preference-applied": "respond-async",
      "x-nbhook-run-id": runId,
      "cache-control": "no-store",
    })
    .send({ id: runId, status: ticket.state === "queued" ? "queued" : "running", url, response_url: `${url}/response` });
}

/** The job's result if it settles within `ms`, else undefined. */
async function within<T>(job: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([job, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `fn` when the connection closes before the answer is sent; returns the unsubscribe. */
function whenCallerGone(reply: FastifyReply, fn: () => void): () => void {
  const res = reply.raw;
  const listener = () => {
    if (!res.writableFinished) fn();
  };
  if (res.destroyed || res.socket?.destroyed) {
    fn();
    return () => undefined;
  }
  res.on("close", listener);
  return () => res.off("close", listener);
}
