/**
 * Webhook names (the identity, `add --name`, default the notebook's absolute path), where a deploy
 * came from (`source_host`, `previous`), every management command by name, and per-webhook CORS
 * on webhook URLs (`add --cors`): over real HTTP on loopback, through the API, the SDK and the
 * built CLI (`npm run build` first). One real ipykernel call shows CORS on a notebook's answer.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookClient } from "../../src/client/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

guardKernelLeaks();

let server: TestServer;
let client: NbhookClient;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-names-"));

beforeAll(async () => {
  expect(existsSync(CLI), "run `npm run build` first").toBe(true);
  server = await startTestServer();
  client = new NbhookClient({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server?.close();
  if (server) removeHome(server);
  rmSync(work, { recursive: true, force: true });
});

let folders = 0;
/** A fresh folder holding `report.ipynb` (cells given or a small default); answers the notebook's path. */
function notebookIn(cells: string[] = ["x = 1"], name = "report.ipynb"): string {
  const dir = path.join(work, `f${++folders}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(makeNotebook(cells)));
  return file;
}

async function api(method: string, route: string, body?: unknown) {
  const response = await fetch(server.url + route, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nbhook ...args --url <server>` in `cwd`, finding the token through NBHOOK_HOME. */
function nbhook(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, "--url", server.url], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, NBHOOK_HOME: server.home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
  });
}

const notebookText = () => JSON.stringify(makeNotebook(["x = 1"]));

describe("names over the API", () => {
  it("two deploys of the same path under different names are two webhooks, each found by its name", async () => {
    const file = notebookIn();
    const ada = await client.add(file, { name: "ada/report" });
    const bob = await client.add(file, { name: "bob-report" });
    expect(ada.created && bob.created).toBe(true);
    expect(bob.webhook.id).not.toBe(ada.webhook.id);
    expect(bob.webhook.url).not.toBe(ada.webhook.url);
    expect(ada.webhook).toMatchObject({
      name: "ada/report",
      path: file,
      file_name: "report.ipynb",
      source_host: os.hostname(),
    });
    const byName = await api("GET", `/api/webhooks?name=${encodeURIComponent("ada/report")}`);
    expect((byName.json.webhooks as { id: string }[]).map((w) => w.id)).toEqual([ada.webhook.id]);
    const byPath = await api("GET", `/api/webhooks?path=${encodeURIComponent(file)}`);
    expect((byPath.json.webhooks as { name: string }[]).map((w) => w.name)).toEqual([
      "ada/report",
      "bob-report",
    ]);
    expect((await client.webhook("bob-report")).id).toBe(bob.webhook.id);

    // The path alone names neither: the SDK, the API and an add without a name say which names to use.
    await expect(client.webhook(file)).rejects.toThrow(
      /deployed under several names \(ada\/report, bob-report\)/,
    );
    const add = await api("POST", "/api/webhooks", { path: file, notebook: notebookText() });
    expect(add.status).toBe(409);
    expect(add.json).toMatchObject({ error: "conflict" });
    expect(add.json.message).toMatch(/several names \(ada\/report, bob-report\): say which with --name/);
    const runs = await api("GET", `/api/runs?path=${encodeURIComponent(file)}`);
    expect(runs.status).toBe(409);
  });

  it("without a name an add updates the webhook named by the path, else the only one deployed from it", async () => {
    const file = notebookIn();
    const first = await client.add(file);
    expect(first.webhook.name).toBe(file);
    const again = await client.add(file);
    expect(again).toMatchObject({ created: false, versions: 2, webhook: { id: first.webhook.id } });
    expect(again.previous).toBeUndefined(); // same machine, same path: nothing to say

    const other = notebookIn();
    const named = await client.add(other, { name: "sales" });
    const byPath = await client.add(other);
    expect(byPath).toMatchObject({ created: false, webhook: { id: named.webhook.id, name: "sales" } });
    // Named by the path in any form the SDK resolves: relative to the current folder too.
    expect((await client.webhook(path.relative(process.cwd(), other))).id).toBe(named.webhook.id);
    // Deleted, it comes back at the same URL from a plain add of its path.
    await client.delete("sales");
    const revived = await client.add(other);
    expect(revived).toMatchObject({ created: false, webhook: { id: named.webhook.id, deleted_at: null } });
    expect(revived.webhook.url).toBe(named.webhook.url);
  });

  it("a deploy that becomes a new version of another machine's webhook says where that one came from", async () => {
    const file = notebookIn();
    const fromA = await api("POST", "/api/webhooks", {
      path: file,
      name: "shared",
      source_host: "laptop-a",
      notebook: notebookText(),
    });
    expect(fromA.status).toBe(201);
    expect(fromA.json.previous).toBeUndefined();
    const fromB = await api("POST", "/api/webhooks", {
      path: file,
      name: "shared",
      source_host: "laptop-b",
      notebook: notebookText(),
    });
    expect(fromB.status).toBe(200);
    expect(fromB.json).toMatchObject({ previous: { host: "laptop-a", path: file }, versions: 2 });
    // Another path on the same machine is said too; the same path and machine again is not.
    const moved = notebookIn();
    const fromElsewhere = await api("POST", "/api/webhooks", {
      path: moved,
      name: "shared",
      source_host: "laptop-b",
      notebook: notebookText(),
    });
    expect(fromElsewhere.json).toMatchObject({ previous: { host: "laptop-b", path: file }, versions: 3 });
    expect(fromElsewhere.json.webhook).toMatchObject({ path: moved, source_host: "laptop-b" });
    const same = await api("POST", "/api/webhooks", {
      path: moved,
      name: "shared",
      source_host: "laptop-b",
      notebook: notebookText(),
    });
    expect(same.json.previous).toBeUndefined();
  });

  it("refuses a name outside the charset, too long, or a path other than the notebook's, with a 422 saying what a name is", async () => {
    const file = notebookIn();
    for (const [name, why] of [
      ["has space", /must start with a letter or digit and hold only letters, digits/],
      ["-dash-first", /must start with a letter or digit/],
      ["trailing/", /no \/ at the end/],
      ["x".repeat(201), /is 201 characters long: a name may have at most 200/],
      ["/other/path.ipynb", /starts with \/: that is a path/],
      ["", /is empty/],
    ] as const) {
      const reply = await api("POST", "/api/webhooks", { path: file, name, notebook: notebookText() });
      expect(reply.status, name).toBe(422);
      expect(reply.json).toMatchObject({ error: "name-invalid" });
      expect(reply.json.message, name).toMatch(why);
    }
    // Its own path is a name (the default, given explicitly).
    const own = await api("POST", "/api/webhooks", { path: file, name: file, notebook: notebookText() });
    expect(own.status).toBe(201);
    const both = await api("GET", `/api/webhooks?name=a&path=${encodeURIComponent(file)}`);
    expect(both.status).toBe(400);
  });
});

describe("every CLI command by name", () => {
  it("add --name, then find, list, get, clear, runs, get-output, clear-output, rotate, delete and currents by that name", async () => {
    const file = notebookIn(["n = 1"]);
    const dir = path.dirname(file);
    const elsewhere = mkdtempSync(path.join(work, "cwd-"));
    const added = await nbhook(["add", "report.ipynb", "--name", "team/report"], dir);
    expect(added.code, added.stderr).toBe(0);
    const url = added.stdout.trim();
    expect(added.stderr).toBe(
      `nbhook: deployed team/report (${file}) (version ${(await client.webhook("team/report")).live_histo}); call the URL above to run it\n`,
    );
    const second = await nbhook(["add", "report.ipynb", "--name", "team/report"], dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toMatch(/warning/);

    // From another folder: the name is the webhook, whatever the folder holds.
    const found = await nbhook(["find", "team/report"], elsewhere);
    expect(found).toMatchObject({ code: 0, stdout: url + "\n" });
    const webhook = await client.webhook("team/report");
    const listed = await nbhook(["list", "team/report", "--json"], elsewhere);
    expect(listed.code, listed.stderr).toBe(0);
    const versions = JSON.parse(listed.stdout) as { histo: string }[];
    expect(versions).toHaveLength(2);
    const got = await nbhook(["get", "team/report"], elsewhere);
    expect(got.code, got.stderr).toBe(0);
    // Beside no notebook: the file name in the current folder.
    expect(existsSync(path.join(elsewhere, `report.${webhook.live_histo}.ipynb`))).toBe(true);
    const cleared = await nbhook(["clear", "team/report", "--all"], elsewhere);
    expect(cleared).toMatchObject({ code: 0 });
    expect(cleared.stdout).toBe(`cleared 1 version of team/report (${file}): ${versions[1]!.histo}\n`);

    const { store } = server.deps;
    const run = await store.createRun({
      webhookId: webhook.id,
      versionHisto: webhook.live_histo!,
      parameters: {},
    });
    await store.writeOutput(webhook.id, run.outputHisto, JSON.stringify(makeNotebook(["out = 1"])), run.id);
    await store.finishRun(run.id, { status: "ok", durationMs: 3, error: null, httpStatus: 200 });
    const runs = await nbhook(["runs", "team/report", "--json"], elsewhere);
    expect(runs.code, runs.stderr).toBe(0);
    expect(
      (JSON.parse(runs.stdout) as { id: string; webhook_name: string }[]).map((r) => [r.id, r.webhook_name]),
    ).toEqual([[run.id, "team/report"]]);
    const output = await nbhook(["get-output", "team/report", "-o", "-"], elsewhere);
    expect(output.code, output.stderr).toBe(0);
    expect(output.stdout).toContain("out = 1");
    const clearedOutputs = await nbhook(["clear-output", "team/report"], elsewhere);
    expect(clearedOutputs.stdout).toBe(`cleared 1 output of team/report (${file}): ${run.outputHisto}\n`);

    const currents = await nbhook(["currents"], elsewhere);
    expect(currents.stdout).toMatch(/^NAME\s+PATH\s+HOST\s+URL\s+LAST RUN$/m);
    expect(currents.stdout).toMatch(
      new RegExp(
        `^team/report\\s+${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\s+${os.hostname()}\\s`,
        "m",
      ),
    );

    const rotated = await nbhook(["rotate", "team/report"], elsewhere);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.trim()).not.toBe(url);
    expect(rotated.stderr).toBe(`nbhook: new URL for team/report (${file}); the old one no longer works\n`);
    const deleted = await nbhook(["delete", "team/report"], elsewhere);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(`\`nbhook add ${file} --name team/report\` brings it back`);
    const gone = await nbhook(["find", "team/report"], elsewhere);
    expect(gone.code).toBe(1);
  });

  it("a path deployed under several names is refused with the names to use; add over another path says so on stderr", async () => {
    const file = notebookIn();
    const dir = path.dirname(file);
    expect((await nbhook(["add", "report.ipynb", "--name", "one"], dir)).code).toBe(0);
    expect((await nbhook(["add", "report.ipynb", "--name", "two"], dir)).code).toBe(0);
    const ambiguous = await nbhook(["find", "report.ipynb"], dir);
    expect(ambiguous.code).not.toBe(0);
    expect(ambiguous.stderr).toMatch(
      `${file} is deployed under several names (one, two): give one of those names`,
    );
    const plainAdd = await nbhook(["add", "report.ipynb"], dir);
    expect(plainAdd.code).not.toBe(0);
    expect(plainAdd.stderr).toMatch(/several names \(one, two\): say which with --name/);

    const moved = notebookIn();
    const over = await nbhook(["add", moved, "--name", "one"], work);
    expect(over.code, over.stderr).toBe(0);
    expect(over.stderr).toMatch(
      `nbhook: warning: the webhook one was deployed from host ${os.hostname()} as ${file}; ` +
        `this deploy (from ${os.hostname()} as ${moved}) is its version 2`,
    );
  });

  it("add refuses a bad name with the rule, and a bad --cors origin with an example", async () => {
    const file = notebookIn();
    const bad = await nbhook(["add", file, "--name", "two words"], work);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name "two words" must start with a letter or digit/);
    const cors = await nbhook(["add", file, "--cors", "https://example.com/app"], work);
    expect(cors.code).not.toBe(0);
    expect(cors.stderr).toMatch(/is not an origin: give scheme:\/\/host\[:port\] without a path/);
  });
});

describe("CORS on webhook URLs", () => {
  const PAGE = "https://app.example.com";
  const OTHER = "https://evil.example.net";

  const preflight = (url: string, origin: string) =>
    fetch(url, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, prefer",
      },
    });

  it("answers the preflight of an allowed origin, and refuses others as without CORS (405, no CORS header)", async () => {
    const { webhook } = await client.add(notebookIn(), {
      name: "cors-one",
      cors: [PAGE, "http://localhost:8080/"],
    });
    expect(webhook.cors).toEqual([PAGE, "http://localhost:8080"]);
    const allowed = await preflight(webhook.url, PAGE);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(allowed.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(allowed.headers.get("access-control-allow-headers")).toBe("content-type, prefer");
    expect(allowed.headers.get("access-control-max-age")).toBe("600");
    expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();
    expect(allowed.headers.get("vary")).toMatch(/Origin/);
    expect((await preflight(webhook.url, "http://localhost:8080")).status).toBe(204);

    const refused = await preflight(webhook.url, OTHER);
    expect(refused.status).toBe(405);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    expect(refused.headers.get("allow")).toBe("GET, POST");
    // An OPTIONS that is no preflight, a webhook without --cors, an unknown token: the plain 405.
    const plain = await fetch(webhook.url, { method: "OPTIONS", headers: { origin: PAGE } });
    expect(plain.status).toBe(405);
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    const { webhook: closed } = await client.add(notebookIn(), { name: "cors-none" });
    expect(closed.cors).toEqual([]);
    expect((await preflight(closed.url, PAGE)).status).toBe(405);
    expect((await preflight(`${server.url}/notebook/${"x".repeat(43)}`, PAGE)).status).toBe(405);
    // Deploying again without --cors turns it off.
    await client.add(notebookIn(), { name: "cors-one" });
    expect((await preflight(webhook.url, PAGE)).status).toBe(405);
    // Beside a webhook URL, the preflight route of @fastify/cors answers the usual 404.
    for (const route of ["/notebook/a/b", "/notebooks"]) {
      const beside = await preflight(`${server.url}${route}`, PAGE);
      expect(beside.status, route).toBe(404);
      expect(((await beside.json()) as { error: string }).error).toBe("not-found");
      expect(beside.headers.get("access-control-allow-origin")).toBeNull();
    }
    // /api has no CORS at all.
    const apiPreflight = await preflight(`${server.url}/api/webhooks`, PAGE);
    expect(apiPreflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("* lets any page call: the preflight and the answer carry Access-Control-Allow-Origin: *", async () => {
    const { webhook } = await client.add(notebookIn(), { name: "cors-any", cors: ["*"] });
    const any = await preflight(webhook.url, OTHER);
    expect(any.status).toBe(204);
    expect(any.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("an actual call from an allowed page gets the answer's CORS headers, exposing what a caller reads; a refused page gets none", async () => {
    const file = notebookIn(["import naas", 'naas.webhook.respond_json({"city": "Paris"})']);
    const { webhook } = await client.add(file, { name: "cors-call", cors: [PAGE] });
    const allowed = await fetch(webhook.url, { headers: { origin: PAGE } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ city: "Paris" });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(PAGE);
    const exposed = allowed.headers.get("access-control-expose-headers") ?? "";
    for (const header of [
      "Location",
      "Content-Disposition",
      "Retry-After",
      "Server-Timing",
      "X-Nbhook-Run-Id",
    ]) {
      expect(exposed).toContain(header);
    }
    expect(allowed.headers.get("content-disposition")).toMatch(/attachment/);

    const refused = await fetch(webhook.url, { headers: { origin: OTHER } });
    expect(refused.status).toBe(200); // the server answers; the browser keeps the answer from the page
    await refused.arrayBuffer();
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    expect(refused.headers.get("access-control-expose-headers")).toBeNull();

    // An error answer carries them too, so the page can read why.
    const wrongMethod = await fetch(webhook.url, { method: "DELETE", headers: { origin: PAGE } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("access-control-allow-origin")).toBe(PAGE);
    await wrongMethod.arrayBuffer();
  });

  it("refuses an origin with a path, another scheme, or no scheme, with a 400 giving an example", async () => {
    for (const origin of [
      "https://example.com/app",
      "ftp://example.com",
      "example.com",
      "https://u:p@example.com",
    ]) {
      const reply = await api("POST", "/api/webhooks", {
        path: notebookIn(),
        name: "cors-bad",
        cors: [origin],
        notebook: notebookText(),
      });
      expect(reply.status, origin).toBe(400);
      expect(reply.json.message, origin).toMatch(
        /is not an origin: give scheme:\/\/host\[:port\] without a path/,
      );
    }
  });
});
