/**
 * @module The one link builder: every URL the server hands out (webhook URLs, run records, executed
 * notebooks, kept answers, the dashboard's run pages), from the server's public base URL (`--base-url`, else where it listens).
 * runs/ gets it too and never builds a path itself.
 */
import type { Links } from "../runs/index.js";

export function createLinks(baseUrl: () => string): Links {
  const base = () => baseUrl().replace(/\/+$/, "");
  const run = (runId: string) => `${base()}/api/runs/${encodeURIComponent(runId)}`;
  return {
    webhook: (token) => `${base()}/notebook/${token}`,
    run,
    runOutput: (runId) => `${run(runId)}/output`,
    runPage: (runId) => `${base()}/runs/${encodeURIComponent(runId)}`,
    runAnswer: (runId) => `${run(runId)}/response`,
  };
}
