/**
 * Stored secrets in a cluster (docs/secrets.md): set on one API node, given to the runs of a worker
 * (its own process, its own home), scrubbed from what the run leaves in Postgres; a change reaches a
 * worker's reuse kernel. A node without NBHOOK_SECRET_KEY refuses to set secrets, saying that every
 * node needs the same key; a worker with another key fails the call naming the key.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, stopCluster, type TestCluster } from "../support/cluster.js";
import { call, startFaultServer, type FaultServer } from "../support/fault-server.js";
import { makeNotebook } from "../support/notebooks.js";

const KEY = randomBytes(32).toString("base64");
let cluster: TestCluster;
let api: FaultServer;

beforeAll(async () => {
  cluster = await startCluster({
    apis: 1,
    workers: 1,
    workerArgs: ["--pool", "1"],
    env: { NBHOOK_SECRET_KEY: KEY },
  });
  api = cluster.apis[0]!;
}, 120_000);

afterAll(async () => {
  await stopCluster();
}, 60_000);

async function deploy(name: string, cells: string[], extra: Record<string, unknown> = {}) {
  const added = await api.api<{ webhook: { id: string; url: string } }>("POST", "/api/webhooks", {
    path: `/work/cluster-secrets/${name}.ipynb`,
    notebook: makeNotebook(cells),
    ...extra,
  });
  return added.webhook;
}

describe("secrets in a cluster", () => {
  it("reach the worker's kernels, are scrubbed from what runs leave, and a change reaches a reuse kernel", async () => {
    const reuse = await deploy(
      "reuse",
      [
        "import naas, os\nnaas.webhook.respond_json({'v': naas.secret.get('CLUSTER_TOKEN'), 'pid': os.getpid()})",
      ],
      { mode: "reuse" },
    );
    const leaky = await deploy("leaky", [
      "import naas\nprint(naas.secret.get('CLUSTER_TOKEN'))\nraise ValueError(naas.secret.get('CLUSTER_TOKEN'))",
    ]);
    await api.api("PUT", "/api/secrets/CLUSTER_TOKEN", { value: "cluster-value-one" });
    const first = (await call(reuse.url)).json<{ v: string; pid: number }>();
    expect(first.v).toBe("cluster-value-one");
    expect((await call(reuse.url)).json()).toEqual(first);

    await api.api("PUT", "/api/secrets/CLUSTER_TOKEN", { value: "cluster-value-two" });
    const second = (await call(reuse.url)).json<{ v: string; pid: number }>();
    expect(second.v).toBe("cluster-value-two");
    expect(second.pid).not.toBe(first.pid);

    const failed = await call(leaky.url);
    expect(failed.status).toBe(500);
    expect(failed.json()).toMatchObject({ ename: "ValueError", evalue: "***" });
    const [run] = await api.runs(leaky.id);
    expect(run!.error).toMatchObject({ evalue: "***" });
    const output = await fetch(`${api.url}/api/runs/${run!.id}/output`, {
      headers: { authorization: `Bearer ${api.token}` },
    }).then((r) => r.text());
    expect(output).not.toContain("cluster-value");
    expect(output).toContain("***");
    expect(api.stdout() + api.stderr() + cluster.workers[0]!.stdout()).not.toContain("cluster-value");
  });

  it("need the same NBHOOK_SECRET_KEY on every node", async () => {
    const keyless = await startFaultServer({
      args: ["--database", cluster.databaseUrl, "--no-worker"],
      env: { NBHOOK_ADMIN_TOKEN: api.token }, // the cluster's admin token; no NBHOOK_SECRET_KEY
    });
    const refused = await fetch(`${keyless.url}/api/secrets/OTHER`, {
      method: "PUT",
      headers: { authorization: `Bearer ${keyless.token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "x-value" }),
    });
    expect(refused.status).toBe(500);
    const body = (await refused.json()) as { error: string; message: string };
    expect(body.error).toBe("secret-key");
    expect(body.message).toContain("secrets need NBHOOK_SECRET_KEY on every node of a cluster");
    expect(keyless.stdout()).toContain("NBHOOK_SECRET_KEY is not set");

    // A worker with another key: the call fails, its record names the key.
    const hook = await deploy("keyed", [
      "import naas\nnaas.webhook.respond_text(str(naas.secret.get('CLUSTER_TOKEN')))",
    ]);
    await cluster.workers[0]!.stop();
    const wrong = await startFaultServer({
      command: "worker",
      args: ["--database", cluster.databaseUrl, "--pool", "0"],
      env: { NBHOOK_SECRET_KEY: randomBytes(32).toString("hex"), NBHOOK_ADMIN_TOKEN: api.token },
    });
    const failed = await call(hook.url);
    expect(failed.status).toBe(500);
    const [run] = await api.runs(hook.id);
    expect(run!.error!.evalue).toContain("it was set with another secret key");
    await wrong.stop();
    await keyless.stop();
  });
});
