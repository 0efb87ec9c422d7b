/**
 * `GET /api/runs/events`: runs as they are queued, start and finish, as Server-Sent Events
 * (docs/api.md, "Live runs"). Each message is `event: run` with the run's JSON (as
 * `GET /api/runs/{id}` shows it); a first `event: ready` says the feed is watching, so a page that
 * loads `GET /api/runs` then misses no change. `?webhook=<id>` keeps one webhook's runs.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Run } from "../../store/index.js";
import { authenticationOf, webhookFilterOf, type Sessions } from "../auth.js";
import type { ApiTokens } from "../tokens.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import { runJson } from "../representations.js";
import { RunFeed } from "../run-feed.js";
import type { ServerDeps } from "../types.js";

/** A comment line now and then keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** How often a stream opened with a session checks that the session still holds. */
const SESSION_CHECK_MS = 5_000;

const eventsQuery = z.object({ webhook: z.string().min(1).optional() });

export async function registerRunEventRoutes(
  app: FastifyInstance,
  deps: ServerDeps,
  sessions: Sessions,
  tokens: ApiTokens,
): Promise<void> {
  const feed = new RunFeed(deps.store, app.log);
  const open = new Set<ServerResponse>();
  const paths = new Map<string, string | undefined>();
  const pathOf = async (webhookId: string) => {
    if (!paths.has(webhookId)) paths.set(webhookId, (await deps.store.getWebhook(webhookId))?.path);
    return paths.get(webhookId);
  };

  // Streams never end by themselves: closing the server ends them (else close() waits forever).
  app.addHook("preClose", async () => {
    for (const stream of open) stream.end();
    feed.stop();
  });

  const schema = routeSchema({
    summary: "Runs as they happen (Server-Sent Events)",
    description:
      "A stream of `event: ready` (the feed watches: load `GET /api/runs` now to miss nothing), then " +
      "`event: run` with a run's JSON (as `GET /api/runs/{id}`) each time one is queued, starts or finishes. " +
      "`?webhook=<id>` keeps one webhook's runs. Comment lines every 15 s keep the connection open.",
    tags: ["runs"],
    querystring: eventsQuery,
    responses: { 200: { description: "The event stream", contentTypes: ["text/event-stream"] } },
    errors: [400],
  });
  app.get("/api/runs/events", { schema }, async (request, reply) => {
    const { webhook } = parseRequest(eventsQuery, request.query);
    if (request.method === "HEAD") {
      return reply.type("text/event-stream; charset=utf-8").header("cache-control", "no-cache").send();
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no", // nginx: pass each message on at once
    });
    raw.write("retry: 2000\n\n");
    open.add(raw);
    // Messages go out in order even though each waits for its webhook's path.
    let queue: Promise<void> = Promise.resolve();
    const visible = webhookFilterOf(request); // a token limited to some webhooks: their runs only
    const send = (run: Run) => {
      if (webhook !== undefined && run.webhookId !== webhook) return;
      if (visible && !visible(run.webhookId)) return;
      queue = queue
        .then(async () => {
          const json = runJson(run, deps.links, await pathOf(run.webhookId));
          if (!raw.writableEnded) raw.write(`event: run\nid: ${run.id}\ndata: ${JSON.stringify(json)}\n\n`);
        })
        .catch((err: unknown) => request.log.warn({ err }, "a live run event could not be sent"));
    };
    const unsubscribe = feed.subscribe({
      run: send,
      ready: () => {
        if (!raw.writableEnded) raw.write("event: ready\ndata: {}\n\n");
      },
    });
    const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), HEARTBEAT_MS);
    heartbeat.unref();
    // A stream opened with the dashboard's session ends with it (sign-out, expiry), and one
    // opened with a token ends when the token is revoked.
    const auth = authenticationOf(request);
    const stillLive =
      auth?.via === "session"
        ? () => sessions.isLive(auth.session)
        : auth?.via === "bearer"
          ? async () => (await tokens.live(auth.token.id)) !== undefined
          : undefined;
    const sessionCheck = stillLive
      ? setInterval(() => {
          stillLive().then(
            (live) => live || raw.end(),
            () => {}, // the store is down: the next check asks again
          );
        }, SESSION_CHECK_MS)
      : undefined;
    sessionCheck?.unref();
    const done = () => {
      clearInterval(heartbeat);
      clearInterval(sessionCheck);
      unsubscribe();
      open.delete(raw);
    };
    raw.on("close", done);
    raw.on("error", done);
    if (raw.destroyed) done(); // the caller left before the stream began: "close" is past
  });
}
