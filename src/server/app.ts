/**
 * The HTTP application: body parsers, who may use /api (auth.ts), the error handlers, and the
 * route modules (the dashboard's pages among them). `startServer` opens the store, builds the calls (runs/) and listens; `buildApp` is
 * the part tests can also drive.
 */
import formbody from "@fastify/formbody";
import multipart from "@fastify/multipart";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { pino, type DestinationStream, type LoggerOptions } from "pino";
import { AppError } from "../errors.js";
import { EmbeddedCalls, type Calls, type Links } from "../runs/index.js";
import { SqliteStore, type Store } from "../store/index.js";
import { openClusterNode } from "./cluster.js";
import { startAdminToken, type AdminTokenOptions, type AdminTokenStart } from "./api-token.js";
import { registerAuth, Sessions } from "./auth.js";
import type { ServerConfig } from "./config.js";
import { DiskSpace } from "./disk-space.js";
import { lockHome } from "./home-lock.js";
import { errorHandler, frameworkErrorHandler, notFoundHandler } from "./http-errors.js";
import { createLinks } from "./links.js";
import { registerOpenApi } from "./openapi.js";
import { runEngineOptions } from "./run-engine-options.js";
import { registerDashboardRoutes } from "./routes/dashboard.js";
import { registerRunEventRoutes } from "./routes/run-events.js";
import { registerRunRoutes } from "./routes/runs.js";
import { registerSessionRoutes } from "./routes/session.js";
import { registerTriggerRoutes } from "./routes/trigger.js";
import { registerTokenRoutes } from "./routes/tokens.js";
import { registerWebhookRoutes } from "./routes/webhooks.js";
import { FailureLimiter } from "./rate-limit.js";
import { ApiTokens } from "./tokens.js";
import type { ServerDeps } from "./types.js";

/** `false`: no log; `true`: pino's defaults; else pino options, with `stream` as the destination. */
export type LoggerSetting = boolean | (LoggerOptions & { stream?: DestinationStream });

export interface AppOptions {
  logger?: LoggerSetting;
}

export function createLogger(setting: LoggerSetting = false): FastifyBaseLogger {
  if (setting === false) return pino({ enabled: false });
  if (setting === true) return pino();
  const { stream, ...options } = setting;
  return stream ? pino(options, stream) : pino(options);
}

export async function buildApp(deps: ServerDeps, log: FastifyBaseLogger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: deps.config.maxBodyBytes,
    // Webhook URLs are secrets: fastify's own request lines are off, ours redact the token.
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: frameworkErrorHandler,
  });
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
  app.get("/health", async () => ({ status: "ok" }));
  await registerTriggerRoutes(app, deps);
  await registerWebhookRoutes(app, deps);
  await registerRunRoutes(app, deps);
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
  let opened: Awaited<ReturnType<typeof openEmbedded>>;
  try {
    opened = config.databaseUrl
      ? await openCluster({ ...config, databaseUrl: config.databaseUrl }, links, log)
      : await openEmbedded(config, links, log);
  } catch (err) {
    unlock();
    throw err;
  }
  const { store, calls } = opened;
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
  const disk = new DiskSpace(config.home, config.minFreeBytes, log);
  const deps: ServerDeps = { config, store, apiToken: adminToken.token, calls, links, disk };
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
  await opened.warmUp?.(); // most webhooks are Python notebooks: their kernels are ready before the first call
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  listening = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  return {
    app,
    deps,
    url: baseUrl(),
    adminToken,
    async close() {
      await app.close(); // requests in flight, then (onClose) every call and kernel
      await opened.close();
      unlock();
    },
  };
}

interface OpenedStore {
  store: Store;
  calls: Calls;
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
): Promise<OpenedStore> {
  const store = new SqliteStore(config.home);
  // One server per home (the lock): what was in flight when it last stopped is over.
  const interrupted = await store.closeInterruptedRuns();
  if (interrupted > 0)
    log.warn({ runs: interrupted }, "runs interrupted by the last stop were closed as died");
  const engine = await runEngineOptions(config, store, links, log);
  const calls = new EmbeddedCalls({ ...engine, maxRuns: config.maxRuns, maxQueue: config.maxQueue });
  return { store, calls, warmUp: () => calls.warmUp(), close: () => store.close() };
}

/** A cluster node on Postgres: the API, and a worker unless `--no-worker` (config.worker). */
async function openCluster(
  config: ServerConfig & { databaseUrl: string },
  links: Links,
  log: FastifyBaseLogger,
): Promise<OpenedStore> {
  const node = await openClusterNode(config, { api: true, worker: config.worker }, links, log);
  return {
    store: node.store,
    calls: node.calls!,
    legacyApiToken: node.legacyApiToken,
    close: () => node.close(),
  };
}
