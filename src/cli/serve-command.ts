import { Command } from "commander";
import { stopForkServers } from "../kernel/index.js";
import { apiTokenFile } from "../home.js";
import type { AdminTokenStart } from "../server/api-token.js";
import { startServer } from "../server/app.js";
import { resolveServerConfig } from "../server/config.js";
import { maskDatabaseUrl } from "../store/postgres/connection.js";

/** As typed: resolveServerConfig checks and converts them, with the environment, all at once. */
interface ServeFlags {
  host?: string;
  port?: string;
  home?: string;
  baseUrl?: string;
  maxBody?: string;
  timeout?: string;
  pool?: string;
  maxRuns?: string;
  maxQueue?: string;
  minFree?: string;
  maxAnswer?: string;
  maxOutput?: string;
  database?: string;
  worker?: boolean;
  metrics?: boolean;
  metricsListen?: string;
  config?: string;
  logLevel?: string;
  logFormat?: string;
  quiet?: boolean;
}

/** A negatable flag's value when typed (`--no-worker`), else undefined: the config file may set it. */
export function typedBoolean(command: Command, name: string): boolean | undefined {
  return command.getOptionValueSource(name) === "cli" ? (command.getOptionValue(name) as boolean) : undefined;
}

/**
 * What the start says about the admin token: the token itself only the one time it is made (a
 * banner); else where the tokens are, without any.
 */
function tokenNotice(start: AdminTokenStart, file: string): string {
  if (start.created) {
    const rule = "nbhook: " + "=".repeat(72) + "\n";
    return (
      rule +
      "nbhook: the first admin API token, shown this once and never again:\n" +
      "nbhook:\n" +
      `nbhook:     ${start.token}\n` +
      "nbhook:\n" +
      `nbhook: keep it somewhere safe. A copy is in ${file} (mode 0600) for the nbhook CLI on this\n` +
      "nbhook: machine; requests are checked against hashes only, never that file: you may delete it.\n" +
      "nbhook: Make tokens for others: `nbhook tokens create NAME --scope read|deploy|admin`.\n" +
      rule
    );
  }
  if (start.imported)
    return `nbhook: the API token of the older nbhook was imported as the admin token "admin" (kept hashed; the CLI's copy: ${file})\n`;
  return "nbhook: API tokens: `nbhook tokens list` (the first admin token was shown at the first start)\n";
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the webhook server (data in --home: SQLite database, notebooks, outputs, API token)")
    .option("--host <host>", "address to listen on (env NBHOOK_HOST; default 127.0.0.1)")
    .option("--port <port>", "port to listen on (env NBHOOK_PORT; default 5000)")
    .option("--home <dir>", "data folder (env NBHOOK_HOME; default ~/.nbhook)")
    .option("--base-url <url>", "public URL of this server, used in webhook links (env NBHOOK_BASE_URL)")
    .option("--max-body <bytes>", "largest request body on /notebook (default 10 MiB)")
    .option("--timeout <seconds>", "default run time limit of new webhooks (default 300)")
    .option(
      "--pool <n>",
      "kernels started ahead of demand per kernelspec (env NBHOOK_POOL; default 2; 0: one kernel start per call)",
    )
    .option(
      "--max-runs <n>",
      "notebooks running at once; more calls wait in the queue (env NBHOOK_MAX_RUNS; default: CPU cores, at least 2)",
    )
    .option(
      "--max-queue <n>",
      "calls waiting at once; beyond that 503 with Retry-After (env NBHOOK_MAX_QUEUE; default 64)",
    )
    .option(
      "--min-free <size>",
      "free space kept on the home's disk: below it calls get 507 (env NBHOOK_MIN_FREE; default 100M; 0: no check)",
    )
    .option(
      "--max-answer <size>",
      "largest answer a notebook may give, streamed from disk (respond_file) (env NBHOOK_MAX_ANSWER; default 1G; inline answers stop at 64M)",
    )
    .option(
      "--max-output <size>",
      "what the saved notebook keeps of each output; the rest is cut with a marker (env NBHOOK_MAX_OUTPUT; default 10M)",
    )
    .option(
      "--database <url>",
      "Postgres URL: run as a node of a cluster (docs/scaling.md) instead of SQLite in the home (env NBHOOK_DATABASE_URL)",
    )
    .option("--no-worker", "with --database: an API node only; calls run on `nbhook worker` nodes")
    .option(
      "--config <file>",
      "config file, nbhook.toml or nbhook.json (env NBHOOK_CONFIG; default <home>/nbhook.toml or .json if there; docs/operations.md)",
    )
    .option(
      "--log-level <level>",
      "fatal, error, warn, info, debug, trace or silent (env NBHOOK_LOG_LEVEL; default info)",
    )
    .option(
      "--log-format <format>",
      "json or pretty (env NBHOOK_LOG_FORMAT; default pretty when stdout is a terminal, else json)",
    )
    .option(
      "--metrics-listen <host:port>",
      "serve GET /metrics there, without a token, instead of on the main port: for a private network (env NBHOOK_METRICS_LISTEN)",
    )
    .option("--no-metrics", "no GET /metrics")
    .option("-q, --quiet", "no request log (--log-level warn)")
    .addHelpText(
      "after",
      "\nEmail notifications: set NBHOOK_SMTP_HOST, NBHOOK_SMTP_PORT, NBHOOK_SMTP_USER, NBHOOK_SMTP_PASSWORD,\n" +
        "NBHOOK_SMTP_FROM (NBHOOK_SMTP_SECURE=true for TLS). Without NBHOOK_SMTP_HOST, notifications are logged only.\n" +
        "\nAPI tokens: the first start makes an admin token, prints it once and writes it to <home>/api-token\n" +
        "for the CLI on this machine; NBHOOK_ADMIN_TOKEN (at least 32 characters) gives it instead (every API\n" +
        "node of a cluster the same). More with `nbhook tokens create NAME --scope read|deploy|admin`.",
    )
    .action(async (flags: ServeFlags, command: Command) => {
      const config = resolveServerConfig({
        config: flags.config,
        logLevel: flags.logLevel ?? (flags.quiet ? "warn" : undefined),
        logFormat: flags.logFormat,
        metricsListen: flags.metricsListen,
        metrics: typedBoolean(command, "metrics"),
        host: flags.host,
        port: flags.port,
        home: flags.home,
        baseUrl: flags.baseUrl,
        maxBodyBytes: flags.maxBody,
        defaultTimeoutMs: flags.timeout, // as text: seconds, the flag's unit
        poolSize: flags.pool,
        maxRuns: flags.maxRuns,
        maxQueue: flags.maxQueue,
        minFreeBytes: flags.minFree,
        maxAnswerBytes: flags.maxAnswer,
        maxOutputBytes: flags.maxOutput,
        databaseUrl: flags.database,
        worker: typedBoolean(command, "worker"),
      });
      for (const warning of config.configWarnings) process.stderr.write(`nbhook: warning: ${warning}\n`);
      const server = await startServer(config, {
        logger: { level: config.logLevel, format: config.logFormat },
      });
      const role = !config.databaseUrl
        ? `data in ${config.home}; ${config.poolSize} kernels kept ready per kernel type; up to ${config.maxRuns} runs at once, ${config.maxQueue} waiting`
        : config.worker
          ? `API and worker node; database ${maskDatabaseUrl(config.databaseUrl)}; queue graphile-worker; ` +
            `this worker runs up to ${config.maxRuns} calls at once (${config.poolSize} kernels kept ready per kernel type); the cluster queues ${config.maxQueue} beyond its workers' slots`
          : `API node; database ${maskDatabaseUrl(config.databaseUrl)}; queue graphile-worker; calls run on \`nbhook worker\` nodes; ` +
            `the cluster queues ${config.maxQueue} beyond its workers' slots`;
      process.stderr.write(
        `nbhook: serving on ${server.url} (${role})\n` +
          tokenNotice(server.adminToken, apiTokenFile(config.home)) +
          (config.smtp
            ? `nbhook: email via ${config.smtp.host}:${config.smtp.port}\n`
            : "nbhook: email notifications are off (set NBHOOK_SMTP_HOST)\n") +
          (config.configFile ? `nbhook: settings from ${config.configFile}\n` : "") +
          (!config.metrics
            ? "nbhook: metrics are off (--no-metrics)\n"
            : server.metricsUrl
              ? `nbhook: metrics on ${server.metricsUrl}/metrics (no token: keep that address private)\n`
              : `nbhook: metrics on ${server.url}/metrics (with the API token)\n`),
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`nbhook: ${signal}: stopping\n`);
        server
          .close()
          .then(() => stopForkServers())
          .then(
            () => process.exit(0),
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
