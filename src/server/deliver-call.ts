/**
 * @module Answering an accepted webhook call over HTTP: `Prefer` (docs/api.md, "Asynchronous
 * calls") and callers that hang up.
 *
 * - `Prefer: respond-async`: 202 at once with `Location: {base}/api/runs/{id}`; `Prefer: wait=N`:
 *   the answer if it comes within N seconds, else the same 202. Either way runs/ keeps the answer
 *   for `GET /api/runs/{id}/response` (the same status, headers and bytes).
 * - A caller that disconnects while its call is queued takes it out of the queue (its record ends
 *   cancelled); once running, the run goes on and is recorded.
 */
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import type { AcceptedCallJson } from "../api/schemas.js";
import type { CallResult, Links, Submission } from "../runs/index.js";

type Accepted = Extract<Submission, { kind: "accepted" }>;

export async function deliverCall(
  call: Accepted,
  waitMs: number | undefined,
  reply: FastifyReply,
  links: Links,
  log: FastifyBaseLogger,
): Promise<FastifyReply> {
  const { run } = call;
  let detached = false;
  call.result.catch((err: unknown) => {
    if (detached) log.error({ err, run: run.id }, "background run failed");
  });
  if (waitMs === 0) {
    detached = true;
    return accepted(reply, links, call);
  }
  const unwatch = whenCallerGone(reply, () => call.cancel());
  let result: CallResult | undefined;
  try {
    result = waitMs === undefined ? await call.result : await within(call.result, waitMs);
  } finally {
    unwatch();
  }
  if (!result) {
    detached = true;
    return accepted(reply, links, call);
  }
  const { answer } = result;
  return reply.status(answer.status).headers(answer.headers).send(answer.body);
}

/** 202 with the run to poll. */
function accepted(reply: FastifyReply, links: Links, call: Accepted): FastifyReply {
  const id = call.run.id;
  const body: AcceptedCallJson = {
    id,
    status: call.state() === "queued" ? "queued" : "running",
    url: links.run(id),
    response_url: links.runAnswer(id),
  };
  return reply
    .status(202)
    .headers({
      location: body.url,
      "preference-applied": "respond-async",
      "x-nbhook-run-id": id,
      "cache-control": "no-store",
    })
    .send(body);
}

/** The result if it settles within `ms`, else undefined. */
async function within<T>(result: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([result, timeout]);
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
