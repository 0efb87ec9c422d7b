/**
 * The management-API suites against a cluster (NBHOOK_TEST_CLUSTER=1, `npm run test:cluster`):
 * two API nodes on one throw-away Postgres database, in this process (so a suite can still reach
 * a node's store, now the Postgres one), behind a round-robin proxy on 127.0.0.1 that sends each
 * request to the other node, as a load balancer would, and, for suites that call webhooks, worker
 * processes (`nbhook worker`, the built dist/).
 */
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { startFaultServer, stopFaultServers } from "./fault-server.js";
import { createTestDatabase } from "./postgres.js";

export const CLUSTER_TARGET = process.env.NBHOOK_TEST_CLUSTER === "1";

export interface ClusterApiOptions {
  /** Worker processes (`nbhook worker`) to start: the suite calls webhooks. */
  workers?: number;
  /** Each worker's --max-runs. */
  maxRuns?: number;
  /** Each API node's --max-queue. */
  maxQueue?: number;
}

/** Node A's server (its store and config), reached through the proxy's URL; close stops everything. */
export async function startClusterApi(
  options: ClusterApiOptions = {},
): Promise<RunningServer & { home: string; token: string }> {
  const db = await createTestDatabase("nbhook_api");
  const homes = [0, 1].map(() => mkdtempSync(path.join(os.tmpdir(), "nbhook-api-node-")));
  const nodes: RunningServer[] = [];
  let turn = 0;
  const proxy = http.createServer((req, res) => {
    const target = new URL(nodes[turn++ % nodes.length]!.app.listeningOrigin);
    const forwarded = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on("error", (err) => {
      res.writeHead(502).end(String(err));
    });
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  // The public URL is the proxy's, as --base-url is a load balancer's in a deployment.
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  for (const home of homes) {
    const config = resolveServerConfig(
      {
        host: "127.0.0.1",
        port: 0,
        home,
        poolSize: 0,
        databaseUrl: db.url,
        worker: false,
        baseUrl: url,
        ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
      },
      {},
    );
    nodes.push(await startServer(config));
  }
  const workerArgs = ["--database", db.url, "--pool", "1", "--base-url", url];
  if (options.maxRuns !== undefined) workerArgs.push("--max-runs", String(options.maxRuns));
  await Promise.all(
    Array.from({ length: options.workers ?? 0 }, () =>
      startFaultServer({ command: "worker", args: workerArgs }),
    ),
  );
  const a = nodes[0]!;
  return {
    ...a,
    url,
    home: homes[0]!,
    token: a.deps.apiToken,
    async close() {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      for (const node of nodes) await node.close();
      await stopFaultServers(); // the workers (and a check that none left a process behind)
      await db.drop();
      for (const home of homes.slice(1)) rmSync(home, { recursive: true, force: true });
    },
  };
}
