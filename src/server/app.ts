/**
 * The HTTP application: body parsers, who may use /api (auth.ts), the error handlers, and the
 * route modules (the dashboard's pages among them). `startServer` opens the store, builds the calls (runs/) and listens; `buildApp` is
 * the part tests can also drive.
 */
import formbody from "@fastify/formbody";
import multipart from "@fastify/multipart";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { AppError } from "../errors.js";
import { cachedKernelSpecs, type KernelObserver } from "../kernel/index.js";
import { EmbeddedCalls, type Calls, type CallStats, type Links } from "../runs/index.js";
import { SqliteStore, type Store } from "../store/index.js";
import { openClusterNode } from "./cluster.js";
import { startAdminToken, type AdminTokenOptions, type AdminTokenStart } from "./api-token.js";
import { registerAuth, Sessions } from "./auth.js";
import type { ServerConfig } from "./config.js";
import { DiskSpace } from "./disk-space.js";
import { lockHome } from "./home-lock.js";
import { createLogger, type LoggerSetting } from "./logger.js";
import { errorHandler, frameworkErrorHandler, notFoundHandler } from "./http-errors.js";
import { createLinks } from "./links.js";
import { Metrics } from "./metrics.js";
import { listenMetrics, parseListenAddress, type MetricsListener } from "./metrics-listener.js";
import type { ReadinessSources } from "./readiness.js";
import { registerOpsRoutes } from "./routes/ops.js";
import { registerOpenApi } from "./openapi.js";
import { runEngineOptions } from "./run-engine-options.js";
import { registerDashboardRoutes } from "./routes/dashboard.js";
import { registerRunEventRoutes } from "./routes/run-events.js";
import { registerRunRoutes } from "./routes/runs.js";
import { registerSecretRoutes } from "./routes/secrets.js";
import { registerSessionRoutes } from "./routes/session.js";
import { registerTriggerRoutes } from "./routes/trigger.js";
import { registerTokenRoutes } from "./routes/tokens.js";
import { registerWebhookRoutes } from "./routes/webhooks.js";
import { FailureLimiter } from "./rate-limit.js";
import { ApiTokens } from "./tokens.js";
import type { ServerDeps } from "./types.js";

export { createLogger, type LoggerSetting } from "./logger.js";

export interface AppOptions {
  logger?: LoggerSetting;
}

/** An X-Request-Id a client may choose: up to 128 of letters, digits and `._:/+=@-`. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;

/** The request's X-Request-Id when it is sane (a proxy's, a client's), else a new UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers["x-request-id"];
  return typeof given === "string" && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

export async function buildApp(deps: ServerDeps, log: FastifyBaseLogger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log,
    // Every log line of a request carries its id (`reqId`); the answer echoes it (X-Request-Id).
    genReqId: requestIdOf,
    bodyLimit: deps.config.maxBodyBytes,
    // Webhook URLs are secrets: fastify's own request lines are off, ours redact the token.
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: frameworkErrorHandler,
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id); // first: error answers (401, 404) carry it too
  });
  deps.metrics?.registerHttpHook(app);
  app.addHook("onResponse", async (request, reply) => {
    // The path only: the query may hold secrets, and /notebook/<token> is one.
    // By the matched route, not the raw URL: a percent-encoded path (/%6Eotebook/…) routes the same.
    const url = request.routeOptions.url?.startsWith("/notebook/")
      ? "/notebook/<token>"
      : request.url.split("?")[0]!.replace(/^\/notebook\/[^/]+/, "/notebook/<token>");
    request.log.info(
      { method: request.method, url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      "request",
    );
  });
  // Answers sent while the server closes (runs that were going, queued calls refused) end their
  // connection: close() would otherwise wait out the keep-alive timeout of each.
  let closing = false;
  let sweep: NodeJS.Timeout | undefined;
  app.addHook("preClose", async () => {
    closing = true;
    deps.calls.stopAdmitting(); // queued calls get their 503 before the server waits for requests
    // Node closes the connections idle when close() begins; one whose answer ends a moment later
    // would keep the server open for its keep-alive timeout (72 s): swept until the close is over.
    sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    sweep.unref();
  });
  app.addHook("onClose", async () => clearInterval(sweep));
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  await app.register(formbody, { bodyLimit: deps.config.maxBodyBytes });
  await app.register(multipart, { limits: { fileSize: deps.config.maxBodyBytes, files: 20, fields: 200 } });

  const tokens = new ApiTokens(deps.store, log);
  const sessions = await Sessions.open(deps.store, tokens);
  const limiter = new FailureLimiter();
  await registerAuth(app, { store: deps.store, sessions, tokens, limiter, baseUrl: deps.config.baseUrl });

  await registerOpenApi(app, deps);
  await registerOpsRoutes(app, {
    readiness: { ...(deps.readiness ?? { store: deps.store }), stopping: () => closing },
    // With --metrics-listen, /metrics is served there only (metrics-listener.ts).
    metrics: deps.config.metricsListen ? undefined : deps.metrics,
  });
  await registerTriggerRoutes(app, deps);
  await registerWebhookRoutes(app, deps);
  await registerRunRoutes(app, deps);
  await registerSecretRoutes(app, deps);
  await registerRunEventRoutes(app, deps, sessions, tokens);
  await registerSessionRoutes(app, deps, { sessions, tokens, limiter });
  await registerTokenRoutes(app, deps);
  await registerDashboardRoutes(app);
  return app;
}

export interface RunningServer {
  app: FastifyInstance;
  deps: ServerDeps;
  url: string;
  /** Where /metrics is served without a token (`--metrics-listen`). */
  metricsUrl?: string;
  /** How this start found the admin token: made now (shown once), imported, or known. */
  adminToken: AdminTokenStart;
  close(): Promise<void>;
}

/**
 * Opens the store (SQLite in `config.home`, or Postgres with `config.databaseUrl`: a cluster
 * node, docs/scaling.md), creates the API token if needed, and listens.
 */
export async function startServer(config: ServerConfig, options: AppOptions = {}): Promise<RunningServer> {
  const unlock = lockHome(config.home);
  const log = createLogger(options.logger);
  let listening = "";
  const baseUrl = () => (config.baseUrl ?? listening).replace(/\/+$/, "");
  const links = createLinks(baseUrl);
  const metrics = config.metrics ? new Metrics() : undefined;
  let opened: Awaited<ReturnType<typeof openEmbedded>>;
  try {
    opened = config.databaseUrl
      ? await openCluster({ ...config, databaseUrl: config.databaseUrl }, links, log, metrics?.kernelObserver)
      : await openEmbedded(config, links, log, metrics?.kernelObserver);
  } catch (err) {
    unlock();
    throw err;
  }
  const { store } = opened;
  const calls = metrics ? metrics.observeCalls(opened.calls) : opened.calls;
  let adminToken: AdminTokenStart;
  try {
    adminToken = await startAdminToken(store, config.home, {
      envToken: config.adminToken,
      legacy: opened.legacyApiToken,
      log,
    });
  } catch (err) {
    await calls.close();
    await opened.close();
    unlock();
    throw err;
  }
  metrics?.watch({ stats: () => opened.stats(), liveWorkers: opened.liveWorkers });
  const readiness: ReadinessSources = {
    store,
    kernels: opened.kernels,
    // An API node without a worker can take calls when some worker of the cluster will run them.
    liveWorkers: opened.kernels ? undefined : opened.liveWorkers,
  };
  const disk = new DiskSpace(config.home, config.minFreeBytes, log);
  const deps: ServerDeps = {
    config,
    store,
    apiToken: adminToken.token,
    calls,
    links,
    disk,
    metrics,
    readiness,
  };
  const app = await buildApp(deps, log);
  // Requests in flight end first (app.close waits for them), then the calls still going.
  app.addHook("onClose", async () => calls.close());
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close();
    await opened.close();
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
  let metricsListener: MetricsListener | undefined;
  if (metrics && config.metricsListen) {
    try {
      metricsListener = await listenMetrics(parseListenAddress(config.metricsListen)!, metrics, log);
    } catch (err) {
      await app.close();
      await opened.close();
      unlock();
      throw err;
    }
  }
  await opened.warmUp?.(); // most webhooks are Python notebooks: their kernels are ready before the first call
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  listening = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  return {
    app,
    deps,
    url: baseUrl(),
    metricsUrl: metricsListener?.url,
    adminToken,
    async close() {
      await metricsListener?.close();
      await app.close(); // requests in flight, then (onClose) every call and kernel
      await opened.close();
      unlock();
    },
  };
}

interface OpenedStore {
  store: Store;
  calls: Calls;
  /** The calls' numbers, with this process's kernels (metrics). */
  stats(): CallStats;
  /** Where calls run in this process: its kernels (readiness). */
  kernels?: ReadinessSources["kernels"];
  /** A cluster's live workers. */
  liveWorkers?: () => Promise<number>;
  /** A cluster's old shared API token, to import (cluster.ts). */
  legacyApiToken?: AdminTokenOptions["legacy"];
  warmUp?(): Promise<void>;
  /** After the app closed (and with it the calls). */
  close(): Promise<void>;
}

/** One process: SQLite and files in the home, calls run here. */
async function openEmbedded(
  config: ServerConfig,
  links: Links,
  log: FastifyBaseLogger,
  kernelObserver?: KernelObserver,
): Promise<OpenedStore> {
  const store = new SqliteStore(config.home);
  // One server per home (the lock): what was in flight when it last stopped is over.
  const interrupted = await store.closeInterruptedRuns();
  if (interrupted > 0)
    log.warn({ runs: interrupted }, "runs interrupted by the last stop were closed as died");
  const engine = await runEngineOptions(config, store, links, log, kernelObserver);
  const calls = new EmbeddedCalls({ ...engine, maxRuns: config.maxRuns, maxQueue: config.maxQueue });
  return {
    store,
    calls,
    stats: () => calls.stats(),
    kernels: { pool: () => calls.stats().kernels?.pool ?? [], findSpecs: () => cachedKernelSpecs() },
    warmUp: () => calls.warmUp(),
    close: () => store.close(),
  };
}

/** A cluster node on Postgres: the API, and a worker unless `--no-worker` (config.worker). */
async function openCluster(
  config: ServerConfig & { databaseUrl: string },
  links: Links,
  log: FastifyBaseLogger,
  kernelObserver?: KernelObserver,
): Promise<OpenedStore> {
  const node = await openClusterNode(config, { api: true, worker: config.worker }, links, log, {
    kernelObserver,
  });
  const calls = node.calls!;
  const engine = node.engine;
  return {
    store: node.store,
    calls,
    legacyApiToken: node.legacyApiToken,
    stats: () => ({ ...calls.stats(), ...(engine ? { kernels: engine.kernelStats() } : {}) }),
    kernels: engine
      ? { pool: () => engine.kernelStats().pool, findSpecs: () => cachedKernelSpecs() }
      : undefined,
    liveWorkers: () => node.queue.liveWorkers(),
    close: () => node.close(),
  };
}
