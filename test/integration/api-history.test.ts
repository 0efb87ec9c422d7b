/**
 * What a webhook keeps, over real HTTP through the SDK: version history and the clear rules (the
 * live version is never cleared by accident), outputs, delete, rotate, and a restart of the server
 * on the same home. Outputs are written through the store, as a run would; no kernel is started.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookApiError, NbhookClient } from "../../src/client/index.js";
import { CLUSTER_TARGET } from "../support/cluster-api.js";
import { makeNotebook } from "../support/notebooks.js";
import { portOf, removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

let server: TestServer;
let client: NbhookClient;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-history-"));

function notebookFile(name: string, n = 0): string {
  const file = path.join(work, name);
  writeFileSync(file, JSON.stringify(makeNotebook([`n = ${n}`])));
  return file;
}

/** Deploys `versions` versions of a fresh notebook; answers its path and histos, newest first. */
async function deployed(
  name: string,
  versions: number,
): Promise<{ file: string; histos: string[]; url: string }> {
  const file = notebookFile(name);
  let url = "";
  const histos: string[] = [];
  for (let i = 0; i < versions; i++) {
    notebookFile(name, i);
    const result = await client.add(file);
    url = result.webhook.url;
    histos.unshift(result.version.histo);
  }
  return { file, histos, url };
}

async function rejection(promise: Promise<unknown>): Promise<NbhookApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NbhookApiError);
  return err as NbhookApiError;
}

const tokenOf = (url: string) => url.slice(url.lastIndexOf("/") + 1);

beforeAll(async () => {
  server = await startTestServer();
  client = new NbhookClient({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
  removeHome(server);
  rmSync(work, { recursive: true, force: true });
});

describe("clearing versions", () => {
  it("clears one old version, but the live one only with force (409 otherwise)", async () => {
    const { file, histos } = await deployed("one.ipynb", 3);
    const [live, middle, oldest] = histos as [string, string, string];
    expect(await client.clear(file, { histo: middle })).toEqual([middle]);
    expect((await client.list(file)).map((v) => v.histo)).toEqual([live, oldest]);

    const refused = await rejection(client.clear(file, { histo: live }));
    expect(refused.status).toBe(409);
    expect(refused.code).toBe("conflict");
    expect(refused.message).toMatch(/live version .* --force/);
    expect((await client.list(file)).map((v) => v.histo)).toEqual([live, oldest]);

    expect(await client.clear(file, { histo: live, force: true })).toEqual([live]);
    const after = await client.list(file);
    expect(after.map((v) => [v.histo, v.live])).toEqual([[oldest, true]]);
    expect((await client.webhook(file)).live_histo).toBe(oldest);
    expect((await rejection(client.clear(file, { histo: middle }))).status).toBe(404);
  });

  it("clears all but the live version with all, and everything with all and force", async () => {
    const { file, histos } = await deployed("all.ipynb", 3);
    expect((await client.clear(file, { all: true })).sort()).toEqual(histos.slice(1).sort());
    expect((await client.list(file)).map((v) => v.histo)).toEqual([histos[0]]);
    expect(await client.clear(file, { all: true })).toEqual([]);

    expect(await client.clear(file, { all: true, force: true })).toEqual([histos[0]]);
    expect(await client.list(file)).toEqual([]);
    expect((await client.webhook(file)).live_histo).toBeNull();
    const noLive = await rejection(client.get(file));
    expect(noLive.status).toBe(404);
    expect(noLive.message).toMatch(/no deployed version left: deploy one with `nbhook add/);
  });

  it("serves versions as application/x-ipynb+json with their histo", async () => {
    const { file, histos } = await deployed("download.ipynb", 2);
    const webhook = await client.webhook(file);
    const response = await fetch(`${server.url}/api/webhooks/${webhook.id}/versions/latest`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/x-ipynb\+json/);
    expect(response.headers.get("nbhook-histo")).toBe(histos[0]);
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="download.${histos[0]}.ipynb"`,
    );
    expect(JSON.parse(await response.text())).toMatchObject({ nbformat: 4 });
  });
});

describe("outputs", () => {
  it("lists, downloads, and clears one or all executed notebooks", async () => {
    const { file, histos } = await deployed("outputs.ipynb", 1);
    const webhook = await client.webhook(file);
    const { store } = server.deps;
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const run = await store.createRun({
        webhookId: webhook.id,
        versionHisto: histos[0]!,
        parameters: { i },
      });
      await store.writeOutput(
        webhook.id,
        run.outputHisto,
        JSON.stringify(makeNotebook([`out = ${i}`])),
        run.id,
      );
      runs.push(run);
    }
    const outputs = await client.outputs(file);
    expect(outputs.map((o) => o.run_id)).toEqual(runs.map((r) => r.id).reverse());
    const newest = await client.getOutput(file);
    expect(newest.histo).toBe(runs[2]!.outputHisto);
    expect(newest.text).toContain("out = 2");
    expect((await client.getOutput(file, { histo: runs[0]!.outputHisto })).text).toContain("out = 0");

    expect(await client.clearOutput(file, { histo: runs[1]!.outputHisto })).toEqual([runs[1]!.outputHisto]);
    expect((await rejection(client.clearOutput(file, { histo: runs[1]!.outputHisto }))).status).toBe(404);
    expect((await client.clearOutput(file)).sort()).toEqual(
      [runs[0]!.outputHisto, runs[2]!.outputHisto].sort(),
    );
    expect(await client.outputs(file)).toEqual([]);
    expect((await rejection(client.getOutput(file))).message).toMatch(/has no output yet/);
  });
});

describe("delete and rotate", () => {
  it("delete makes the URL answer 404 and lists the webhook as deleted; a re-add brings it back at the same URL", async () => {
    const { file, url, histos } = await deployed("delete.ipynb", 2);
    const deleted = await client.delete(file);
    expect(deleted.deleted_at).toBeTruthy();
    expect(await server.deps.store.findWebhookByToken(tokenOf(url))).toBeUndefined();
    expect((await fetch(url)).status).toBe(404);
    expect(await client.find(file)).toBeUndefined();
    expect((await rejection(client.list(file))).status).toBe(404);
    const listed = (await client.currents({ includeDeleted: true })).find((w) => w.id === deleted.id);
    expect(listed?.deleted_at).toBe(deleted.deleted_at);

    // History is kept: the versions are still there, by id.
    expect((await server.deps.store.listVersions(deleted.id)).map((v) => v.histo)).toEqual(histos);

    const again = await client.add(file);
    expect(again.created).toBe(false);
    expect(again.webhook.url).toBe(url);
    expect(again.webhook.deleted_at).toBeNull();
    expect((await server.deps.store.findWebhookByToken(tokenOf(url)))?.id).toBe(deleted.id);
  });

  it("rotate gives a new URL and the old one stops working; a deleted webhook cannot be rotated", async () => {
    const { file, url } = await deployed("rotate.ipynb", 1);
    const rotated = await client.rotate(file);
    expect(rotated.url).not.toBe(url);
    expect(tokenOf(rotated.url)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await server.deps.store.findWebhookByToken(tokenOf(url))).toBeUndefined();
    expect((await server.deps.store.findWebhookByToken(tokenOf(rotated.url)))?.path).toBe(file);
    expect(await client.find(file)).toBe(rotated.url);

    await client.delete(file);
    const webhook = (await client.currents({ includeDeleted: true })).find((w) => w.path === file)!;
    const response = await fetch(`${server.url}/api/webhooks/${webhook.id}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { message: string }).message).toMatch(
      /deploy it again with `nbhook add/,
    );
  });
});

// A cluster node's restart is the fault suite's (test/cluster): this one restarts an embedded home.
describe.skipIf(CLUSTER_TARGET)("restart", () => {
  it("keeps webhooks, URLs, versions and the API token when the server restarts on the same home", async () => {
    const own = await startTestServer();
    try {
      const ownClient = new NbhookClient({ url: own.url, token: own.token });
      const file = notebookFile("restart.ipynb", 1);
      const first = await ownClient.add(file, { params: { inline: true } });
      notebookFile("restart.ipynb", 2);
      const second = await ownClient.add(file);
      const port = portOf(own);
      await own.close();

      const reopened = await startTestServer({ home: own.home, port });
      try {
        expect(reopened.token).toBe(own.token);
        const again = new NbhookClient({ url: reopened.url, token: reopened.token });
        expect(await again.find(file)).toBe(first.webhook.url);
        expect((await again.list(file)).map((v) => v.histo)).toEqual([
          second.version.histo,
          first.version.histo,
        ]);
        expect((await again.get(file, { histo: first.version.histo })).text).toContain("n = 1");
        expect((await reopened.deps.store.findWebhookByToken(tokenOf(first.webhook.url)))?.path).toBe(file);
      } finally {
        await reopened.close();
      }
    } finally {
      removeHome(own);
    }
  });
});
