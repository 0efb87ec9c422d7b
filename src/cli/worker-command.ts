import { Command } from "commander";
import { AppError } from "../errors.js";
import { stopForkServers } from "../kernel/index.js";
import { createLogger } from "../server/app.js";
import { openClusterNode } from "../server/cluster.js";
import { resolveServerConfig } from "../server/config.js";
import { lockHome } from "../server/home-lock.js";
import { createLinks } from "../server/links.js";
import { maskDatabaseUrl } from "../store/postgres/connection.js";

interface WorkerFlags {
  database?: string;
  home?: string;
  baseUrl?: string;
  pool?: string;
  maxRuns?: string;
  maxAnswer?: string;
  maxOutput?: string;
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
    .option("-q, --quiet", "log warnings and errors only")
    .addHelpText(
      "after",
      "\nEmail notifications: NBHOOK_SMTP_HOST and the other NBHOOK_SMTP_* variables, as for `nbhook serve`.\n" +
        "SIGTERM drains: the running calls finish, no new one is taken.",
    )
    .action(async (flags: WorkerFlags) => {
      const config = resolveServerConfig({
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
      const unlock = lockHome(config.home);
      const log = createLogger({ level: flags.quiet ? "warn" : "info" });
      const base = config.baseUrl ?? "http://127.0.0.1:5000";
      let node;
      try {
        node = await openClusterNode(
          { ...config, databaseUrl },
          { api: false, worker: true },
          createLinks(() => base),
          log,
        );
      } catch (err) {
        unlock();
        throw err;
      }
      process.stderr.write(
        `nbhook: worker ${node.worker!.id} (database ${maskDatabaseUrl(databaseUrl)}; queue graphile-worker; ` +
          `up to ${config.maxRuns} calls at once, ${config.poolSize} kernels kept ready per kernel type; local data in ${config.home})\n`,
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`nbhook: ${signal}: draining (running calls finish, no new one is taken)\n`);
        node
          .close()
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
