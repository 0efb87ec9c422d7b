/**
 * @module Answering an accepted webhook call over HTTP: `Prefer` (docs/api.md, "Asynchronous
 * calls") and callers that hang up.
 *
 * - `Prefer: respond-async`: 202 at once with `Location: {base}/api/runs/{id}`; `Prefer: wait=N`:
 *   the answer if it comes within N seconds, else the same 202. Either way runs/ keeps the answer
 *   for `GET /api/runs/{id}/response` (the same status, headers and bytes).
 * - A caller that disconnects while its call is queued takes it out of the queue (its record ends
 *   cancelled); once running, the run goes on and is recorded.
 * - An answer in a file (respond_file) is streamed from it, with its Content-Length: a 100 MB
 *   answer costs a read buffer, not 100 MB. The file is the call's own copy: it is opened, then
 *   removed at once (the open file stays readable), so nothing is left behind whatever happens to
 *   the connection; a call nobody waits for any more has its copy removed once it is over.
 */
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import type { AcceptedCallJson } from "../api/schemas.js";
import type { AnswerFile } from "../notebook/types.js";
import { releaseAnswerFiles, type CallResult, type Links, type Submission } from "../runs/index.js";

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
  call.result.then(
    (result) => {
      if (detached) void releaseAnswerFiles(result, log);
    },
    (err: unknown) => {
      if (detached) log.error({ err, run: run.id }, "background run failed");
    },
  );
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
  return sendAnswer(reply, result, log);
}

/** The answer: from memory, or streamed from its file; the call's answer files removed either way. */
async function sendAnswer(
  reply: FastifyReply,
  result: CallResult,
  log: FastifyBaseLogger,
): Promise<FastifyReply> {
  const { answer } = result;
  if (!answer.file) {
    await releaseAnswerFiles(result, log);
    return reply.status(answer.status).headers(answer.headers).send(answer.body);
  }
  let opened: OpenedAnswer;
  try {
    opened = await openAnswerFile(answer.file);
  } finally {
    await releaseAnswerFiles(result, log);
  }
  return reply
    .status(answer.status)
    .headers(answer.headers)
    .header("content-length", String(opened.size))
    .send(opened.stream);
}

export interface OpenedAnswer {
  stream: Readable;
  /** The file's size when it was opened: the Content-Length. */
  size: number;
}

/**
 * An answer file opened to be streamed. Its size is read from the open file, so Content-Length
 * is what will be sent. The stream closes the file when it ends or is destroyed (fastify destroys
 * it when the caller goes away).
 */
export async function openAnswerFile(file: AnswerFile): Promise<OpenedAnswer> {
  const handle = await open(file.path, "r");
  try {
    const { size } = await handle.stat();
    return { stream: handle.createReadStream(), size };
  } catch (err) {
    await handle.close();
    throw err;
  }
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
