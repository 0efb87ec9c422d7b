/**
 * A real nbhook server on 127.0.0.1 for the load and asynchronous-call tests: chosen run limits
 * and queue, one pooled kernel per kernelspec, notebooks deployed straight into its store.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig, type ServerConfig } from "../../src/server/config.js";
import type { NewWebhook } from "../../src/store/index.js";
import { CLUSTER_TARGET, startClusterApi } from "./cluster-api.js";
import { makeNotebook, type CellSpec } from "./notebooks.js";

export async function startLoadServer(config: Partial<ServerConfig> = {}): Promise<RunningServer> {
  // The same suite against a cluster (npm run test:cluster): 2 API nodes, 2 workers with these run limits.
  if (CLUSTER_TARGET)
    return startClusterApi({ workers: 2, maxRuns: config.maxRuns, maxQueue: config.maxQueue });
  const home = mkdtempSync(path.join(os.tmpdir(), "nbhook-load-home-"));
  return startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 1, ...config }, {}));
}

let deployed = 0;

/** Deploys the cells as a new webhook; returns it with its URL. */
export async function deploy(server: RunningServer, cells: CellSpec[], settings: Partial<NewWebhook> = {}) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/load${++deployed}/report.ipynb`,
    params: {},
    debug: false,
    timeoutMs: 60_000,
    ...settings,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return { ...webhook, url: `${server.url}/notebook/${webhook.token}` };
}

/** A notebook that sleeps, then answers `text`. */
export function sleeping(seconds: number, text = "done"): CellSpec[] {
  return [
    `import time\ntime.sleep(${seconds})`,
    `import naas\nnaas.webhook.respond_text(${JSON.stringify(text)})`,
  ];
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { redirect: "manual", ...init });
  const body = Buffer.from(await res.arrayBuffer());
  const text = body.toString("utf8");
  return { status: res.status, headers: res.headers, body, text, json: <T>() => JSON.parse(text) as T };
}

/** Polls `check` every 25 ms until it is true; fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Closes `server`; should that take more than `limitMs`, fails saying what was still going on
 * (calls, kernels, Node's active resources) instead of a bare hook timeout. server-load's first
 * close hung twice in ~25 full runs, never when run alone: this is to learn where.
 */
export async function closeOrExplain(server: RunningServer | undefined, limitMs = 45_000): Promise<void> {
  if (!server) return;
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      server.app.server.getConnections((_err, connections) => {
        const state = {
          calls: server.deps.calls.stats(),
          listening: server.app.server.listening,
          connections,
          resources: process.getActiveResourcesInfo(),
        };
        reject(new Error(`server.close() still going after ${limitMs} ms: ${JSON.stringify(state)}`));
      });
    }, limitMs);
  });
  try {
    await Promise.race([server.close(), stuck]);
  } finally {
    clearTimeout(timer);
  }
}
