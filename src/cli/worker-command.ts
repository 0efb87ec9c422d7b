import { Command } from "commander";
import { AppError } from "../errors.js";
import { stopForkServers } from "../kernel/index.js";
import { createLogger } from "../server/app.js";
import { openClusterNode } from "../server/cluster.js";
import { resolveServerConfig } from "../server/config.js";
import { lockHome } from "../server/home-lock.js";
import { createLinks } from "../server/links.js";
import { Metrics } from "../server/metrics.js";
import { listenMetrics, parseListenAddress, type MetricsListener } from "../server/metrics-listener.js";
import { maskDatabaseUrl } from "../store/postgres/connection.js";

interface WorkerFlags {
  database?: string;
  home?: string;
  baseUrl?: string;
  pool?: string;
  maxRuns?: string;
  maxAnswer?: string;
  maxOutput?: string;
  config?: string;
  logLevel?: string;
  logFormat?: string;
  metricsListen?: string;
  quiet?: boolean;
}

/** `nbhook worker`: a cluster node that runs calls (docs/scaling.md); no HTTP. */
export function workerCommand(): Command {
  return new Command("worker")
    .description(
      "run webhook calls of a cluster: take them from the Postgres queue, run them on local kernels",
    )
    .option("--database <url>", "the cluster's Postgres URL (env NBHOOK_DATABASE_URL; required)")
    .option("--home <dir>", "local folder: kernels' files, caches (env NBHOOK_HOME; default ~/.nbhook)")
    .option(
      "--base-url <url>",
      "public URL of the API nodes, for links in mails and NBHOOK_WEBHOOK_URL (env NBHOOK_BASE_URL; default http://127.0.0.1:5000)",
    )
    .option("--pool <n>", "kernels started ahead per kernelspec (env NBHOOK_POOL; default 2)")
    .option(
      "--max-runs <n>",
      "calls this worker runs at once (env NBHOOK_MAX_RUNS; default: CPU cores, at least 2)",
    )
    .option("--max-answer <size>", "largest answer a notebook may give (env NBHOOK_MAX_ANSWER; default 1G)")
    .option(
      "--max-output <size>",
      "what the saved notebook keeps of each output (env NBHOOK_MAX_OUTPUT; default 10M)",
    )
    .option(
      "--config <file>",
      "config file, as for `nbhook serve` (env NBHOOK_CONFIG; default <home>/nbhook.toml or .json if there)",
    )
    .option(
      "--log-level <level>",
      "fatal, error, warn, info, debug, trace or silent (env NBHOOK_LOG_LEVEL; default info)",
    )
    .option(
      "--log-format <format>",
      "json or pretty (env NBHOOK_LOG_FORMAT; default pretty on a terminal, else json)",
    )
    .option(
      "--metrics-listen <host:port>",
      "serve GET /metrics (this worker's kernels) there, without a token: for a private network (env NBHOOK_METRICS_LISTEN)",
    )
    .option("-q, --quiet", "log warnings and errors only (--log-level warn)")
    .addHelpText(
      "after",
      "\nEmail notifications: NBHOOK_SMTP_HOST and the other NBHOOK_SMTP_* variables, as for `nbhook serve`.\n" +
        "SIGTERM drains: the running calls finish, no new one is taken.",
    )
    .action(async (flags: WorkerFlags) => {
      const config = resolveServerConfig({
        config: flags.config,
        logLevel: flags.logLevel ?? (flags.quiet ? "warn" : undefined),
        logFormat: flags.logFormat,
        metricsListen: flags.metricsListen,
        home: flags.home,
        baseUrl: flags.baseUrl,
        poolSize: flags.pool,
        maxRuns: flags.maxRuns,
        maxAnswerBytes: flags.maxAnswer,
        maxOutputBytes: flags.maxOutput,
        databaseUrl: flags.database,
      });
      const databaseUrl = config.databaseUrl;
      if (!databaseUrl) {
        throw new AppError(
          "usage",
          "nbhook worker needs the cluster's database: pass --database postgres://… or set NBHOOK_DATABASE_URL",
        );
      }
      for (const warning of config.configWarnings) process.stderr.write(`nbhook: warning: ${warning}\n`);
      const unlock = lockHome(config.home);
      const log = createLogger({ level: config.logLevel, format: config.logFormat });
      // No HTTP here: metrics only on their own address. Calls are counted by the API node that took them.
      const metrics = config.metrics && config.metricsListen ? new Metrics() : undefined;
      let metricsListener: MetricsListener | undefined;
      const base = config.baseUrl ?? "http://127.0.0.1:5000";
      let node;
      try {
        node = await openClusterNode(
          { ...config, databaseUrl },
          { api: false, worker: true },
          createLinks(() => base),
          log,
          { kernelObserver: metrics?.kernelObserver },
        );
        if (metrics) {
          const engine = node.engine!;
          const queue = node.queue;
          metrics.watch({
            stats: () => ({ running: 0, queued: 0, kernels: engine.kernelStats() }),
            liveWorkers: () => queue.liveWorkers(),
          });
          metricsListener = await listenMetrics(
            parseListenAddress(config.metricsListen!)!,
            metrics,
            log,
          ).catch(async (err: unknown) => {
            await node!.close();
            throw err;
          });
        }
      } catch (err) {
        unlock();
        throw err;
      }
      process.stderr.write(
        `nbhook: worker ${node.worker!.id} (database ${maskDatabaseUrl(databaseUrl)}; queue graphile-worker; ` +
          `up to ${config.maxRuns} calls at once, ${config.poolSize} kernels kept ready per kernel type; local data in ${config.home})\n` +
          (config.configFile ? `nbhook: settings from ${config.configFile}\n` : "") +
          (metricsListener
            ? `nbhook: metrics on ${metricsListener.url}/metrics (no token: keep that address private)\n`
            : ""),
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`nbhook: ${signal}: draining (running calls finish, no new one is taken)\n`);
        Promise.resolve(metricsListener?.close())
          .then(() => node.close())
          .then(() => stopForkServers())
          .then(
            () => {
              unlock();
              process.exit(0);
            },
            (err: unknown) => {
              process.stderr.write(`nbhook: error while stopping: ${String(err)}\n`);
              process.exit(1);
            },
          );
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
}
