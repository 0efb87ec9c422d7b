/**
 * The HTTP application: body parsers, the /api bearer-token check, the error handler, and the
 * route modules. `startServer` opens the store and listens; `buildApp` is the part tests can
 * also drive.
 */
import formbody from "@fastify/formbody";
import multipart from "@fastify/multipart";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import { AppError } from "../errors.js";
import { findKernelSpecs, KernelPool } from "../kernel/index.js";
import { Admission } from "../runs/admission.js";
import { WarmKernels } from "../runs/warm-kernels.js";
import { SqliteStore } from "../store/index.js";
import { isAuthorized, loadOrCreateApiToken } from "./api-token.js";
import { lockHome } from "./home-lock.js";
import type { ServerConfig } from "./config.js";
import { errorHandler } from "./http-errors.js";
import { registerRunRoutes } from "./routes/runs.js";
import { registerTriggerRoutes } from "./routes/trigger.js";
import { registerWebhookRoutes } from "./routes/webhooks.js";
import { isRunPollAuthorized } from "./run-auth.js";
import type { ServerDeps } from "./types.js";

export async function buildApp(deps: ServerDeps, options: { logger?: boolean | object } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: deps.config.maxBodyBytes,
    // Webhook URLs are secrets: fastify's own request lines are off, ours redact the token.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook("onResponse", async (request, reply) => {
    // The path only: the query may hold secrets, and /notebook/<token> is one.
    // By the matched route, not the raw URL: a percent-encoded path (/%6Eotebook/…) routes the same.
    const url = request.routeOptions.url?.startsWith("/notebook/")
      ? "/notebook/<token>"
      : request.url.split("?")[0]!.replace(/^\/notebook\/[^/]+/, "/notebook/<token>");
    request.log.info({ method: request.method, url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
  });
  // Answers sent while the server closes (runs that were going, queued calls refused) end their
  // connection: close() would otherwise wait out the keep-alive timeout of each.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });
  app.setErrorHandler(errorHandler);
  await app.register(formbody, { bodyLimit: deps.config.maxBodyBytes });
  await app.register(multipart, { limits: { fileSize: deps.config.maxBodyBytes, files: 20, fields: 200 } });

  app.addHook("onRequest", async (request, reply) => {
    // The matched route decides, not the raw URL: /%61pi/webhooks routes to /api/webhooks.
    const route = request.routeOptions.url ?? request.url;
    if (!route.startsWith("/api/") && route !== "/api") return;
    // GET /api/runs/{id}[/response] also take the run's webhook token: callers that only have the
    // webhook URL poll their asynchronous calls (docs/api.md, "Asynchronous calls").
    if (
      !isAuthorized(request.headers.authorization, deps.apiToken) &&
      !(await isRunPollAuthorized(request, deps.store))
    ) {
      await reply
        .status(401)
        .header("WWW-Authenticate", 'Bearer realm="nbhook"')
        .send({
          error: "unauthorized",
          message:
            "missing or wrong API token: send `Authorization: Bearer <token>`; the token is in <home>/api-token " +
            "(printed by `nbhook serve`), or set NBHOOK_TOKEN",
        });
    }
  });

  app.get("/health", async () => ({ status: "ok" }));
  await registerTriggerRoutes(app, deps);
  await registerWebhookRoutes(app, deps);
  await registerRunRoutes(app, deps);
  return app;
}

export interface RunningServer {
  app: FastifyInstance;
  deps: ServerDeps;
  url: string;
  close(): Promise<void>;
}

/** Opens the store in `config.home`, creates the API token if needed, and listens. */
export async function startServer(config: ServerConfig, options: { logger?: boolean | object } = {}): Promise<RunningServer> {
  const unlock = lockHome(config.home);
  const store = new SqliteStore(config.home);
  // One server per home (the lock): what was in flight when it last stopped is over.
  const interrupted = await store.closeInterruptedRuns();
  const apiToken = await loadOrCreateApiToken(config.home);
  let listening = "";
  const pool = new KernelPool({
    size: config.poolSize,
    onError: (err, spec) => app.log.error({ err, kernel: spec.name }, "could not start a pooled kernel"),
  });
  const warm = new WarmKernels({ pool, log: (level, fields, msg) => app.log[level](fields, msg) });
  const deps: ServerDeps = {
    config,
    store,
    apiToken,
    pool,
    warm,
    admission: new Admission({ maxRuns: config.maxRuns, maxQueue: config.maxQueue }),
    baseUrl: () => (config.baseUrl ?? listening).replace(/\/+$/, ""),
  };
  const app = await buildApp(deps, options);
  if (interrupted > 0) app.log.warn({ runs: interrupted }, "runs interrupted by the last stop were closed as died");
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await warm.close();
    await pool.close();
    await store.close();
    unlock();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      throw new AppError(
        "usage",
        code === "EADDRINUSE"
          ? `${config.host}:${config.port} is already in use (another nbhook serve?): choose another with --port`
          : `not allowed to listen on ${config.host}:${config.port}: choose a port above 1023 with --port`,
        { cause: err },
      );
    }
    throw err;
  }
  // Most webhooks are Python notebooks: have their kernels ready before the first call.
  const python = (await findKernelSpecs()).find((spec) => spec.name === "python3");
  if (python) pool.warm(python);
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  listening = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  return {
    app,
    deps,
    url: deps.baseUrl(),
    async close() {
      await app.close(); // waits for requests in flight, and so for their runs
      await warm.close(); // before the pool: its kernels came from there
      await pool.close();
      await store.close();
      unlock();
    },
  };
}
