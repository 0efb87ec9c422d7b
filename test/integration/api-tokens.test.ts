/**
 * Named API tokens over real HTTP against a real server: what each scope may and may not do (one
 * table), tokens limited to some webhooks, revocation (bearer and dashboard session) taking
 * effect at once, last-used times, and only hashes in the SQLite file. Runs are recorded through
 * the store: no kernel is started.
 */
import { readFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiToken, CreatedToken } from "../../src/client/index.js";
import { NbhookClient } from "../../src/client/index.js";
import { hashApiToken } from "../../src/server/tokens.js";
import { CLUSTER_TARGET } from "../support/cluster-api.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

let server: TestServer;
let admin: NbhookClient;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-tokens-"));
const hooks: Record<"a" | "b", { id: string; path: string; run: string }> = {} as never;
const tokens: Record<string, CreatedToken> = {};

interface Reply {
  status: number;
  json: { error?: string; message?: string } & Record<string, unknown>;
  headers: Headers;
}

async function api(
  method: string,
  route: string,
  token: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const all: Record<string, string> = { ...headers };
  if (token !== null) all.authorization = `Bearer ${token}`;
  if (body !== undefined) all["content-type"] = "application/json";
  const response = await fetch(`${server.url}${route}`, {
    method,
    headers: all,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Reply["json"] = {};
  try {
    json = JSON.parse(text) as Reply["json"];
  } catch {
    // not JSON (a notebook download): status is what counts
  }
  return { status: response.status, json, headers: response.headers };
}

function notebookFile(name: string): string {
  const file = path.join(work, `${name}.ipynb`);
  writeFileSync(file, JSON.stringify(makeNotebook([`print("${name}")`])));
  return file;
}

async function addBody(file: string) {
  return { path: file, notebook: readFileSync(file, "utf8") };
}

beforeAll(async () => {
  server = await startTestServer();
  admin = new NbhookClient({ url: server.url, token: server.token });
  for (const key of ["a", "b"] as const) {
    const file = notebookFile(key);
    const added = await admin.add(file);
    const run = await server.deps.store.createRun({
      webhookId: added.webhook.id,
      versionHisto: added.version.histo,
      parameters: {},
    });
    await server.deps.store.finishRun(run.id, { status: "ok", durationMs: 1, error: null, httpStatus: 200 });
    hooks[key] = { id: added.webhook.id, path: file, run: run.id };
  }
  tokens.read = await admin.createToken("reader", { scope: "read" });
  tokens.deploy = await admin.createToken("deployer", { scope: "deploy" });
  tokens.admin = await admin.createToken("second-admin", { scope: "admin" });
  tokens.readA = await admin.createToken("reader-a", { scope: "read", webhooks: [hooks.a.id] });
  tokens.deployA = await admin.createToken("deployer-a", { scope: "deploy", webhooks: [hooks.a.id] });
});

afterAll(async () => {
  await server.close();
  removeHome(server);
  rmSync(work, { recursive: true, force: true });
});

describe("tokens", () => {
  it("are made with a recognisable prefix, shown once, and listed without the token", async () => {
    expect(tokens.read!.token).toMatch(/^nbh_[A-Za-z0-9_-]{43}$/);
    const listed = await admin.listTokens();
    expect(listed.map((t) => t.name)).toEqual([
      "admin",
      "deployer",
      "deployer-a",
      "reader",
      "reader-a",
      "second-admin",
    ]);
    expect(JSON.stringify(listed)).not.toContain(tokens.read!.token);
    const limited = listed.find((t) => t.name === "reader-a")!;
    expect(limited).toMatchObject({ scope: "read", webhooks: [{ id: hooks.a.id, path: hooks.a.path }] });
  });

  it("refuse a taken name (409), an unknown webhook (404), an admin token limited to webhooks (400)", async () => {
    const taken = await api("POST", "/api/tokens", server.token, { name: "reader", scope: "read" });
    expect(taken.status).toBe(409);
    expect(taken.json.message).toMatch(/reader.*revoke/);
    const unknown = await api("POST", "/api/tokens", server.token, {
      name: "x",
      scope: "read",
      webhooks: ["nope"],
    });
    expect(unknown.status).toBe(404);
    const limitedAdmin = await api("POST", "/api/tokens", server.token, {
      name: "y",
      scope: "admin",
      webhooks: [hooks.a.id],
    });
    expect(limitedAdmin.status).toBe(400);
    const badScope = await api("POST", "/api/tokens", server.token, { name: "z", scope: "root" });
    expect(badScope.status).toBe(400);
    expect(badScope.json.message).toMatch(/scope.*read.*deploy.*admin/);
  });
});

describe("scopes", () => {
  type Scope = "read" | "deploy" | "admin";
  let n = 0;
  // Each route, and the status each scope gets: 403 is a refusal for the scope.
  const table: { route: string; call: (token: string) => Promise<Reply>; expect: Record<Scope, number> }[] = [
    {
      route: "GET /api/webhooks",
      call: (t) => api("GET", "/api/webhooks", t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/webhooks/{id}",
      call: (t) => api("GET", `/api/webhooks/${hooks.a.id}`, t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/webhooks/{id}/versions",
      call: (t) => api("GET", `/api/webhooks/${hooks.a.id}/versions`, t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/runs",
      call: (t) => api("GET", "/api/runs", t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/runs/{id}",
      call: (t) => api("GET", `/api/runs/${hooks.a.run}`, t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /openapi.json",
      call: (t) => api("GET", "/openapi.json", t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/session",
      call: (t) => api("GET", "/api/session", t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "DELETE /api/session",
      call: (t) => api("DELETE", "/api/session", t),
      expect: { read: 200, deploy: 200, admin: 200 },
    },
    {
      route: "POST /api/webhooks (a new version)",
      call: async (t) => api("POST", "/api/webhooks", t, await addBody(hooks.a.path)),
      expect: { read: 403, deploy: 200, admin: 200 },
    },
    {
      route: "POST /api/webhooks/{id}/rotate",
      call: (t) => api("POST", `/api/webhooks/${hooks.a.id}/rotate`, t),
      expect: { read: 403, deploy: 200, admin: 200 },
    },
    {
      route: "DELETE /api/webhooks/{id}/outputs",
      call: (t) => api("DELETE", `/api/webhooks/${hooks.a.id}/outputs`, t),
      expect: { read: 403, deploy: 200, admin: 200 },
    },
    {
      route: "GET /api/tokens",
      call: (t) => api("GET", "/api/tokens", t),
      expect: { read: 403, deploy: 403, admin: 200 },
    },
    {
      route: "POST /api/tokens",
      call: (t) => api("POST", "/api/tokens", t, { name: `made-${n++}`, scope: "read" }),
      expect: { read: 403, deploy: 403, admin: 201 },
    },
    {
      route: "DELETE /api/tokens/{name}",
      call: (t) => api("DELETE", "/api/tokens/no-such-token", t),
      expect: { read: 403, deploy: 403, admin: 404 },
    },
  ];

  for (const row of table) {
    it(`${row.route}: read ${row.expect.read}, deploy ${row.expect.deploy}, admin ${row.expect.admin}`, async () => {
      for (const scope of ["read", "deploy", "admin"] as const) {
        const reply = await row.call(tokens[scope]!.token);
        expect(reply.status, `${scope} on ${row.route}: ${JSON.stringify(reply.json)}`).toBe(
          row.expect[scope],
        );
        if (reply.status === 403) {
          expect(reply.json.error).toBe("forbidden");
          const need = row.route.includes("tokens") ? "admin" : "deploy";
          expect(reply.json.message).toContain(`needs a token of scope "${need}"`);
          expect(reply.json.message).toContain(`has scope "${scope}"`);
        }
      }
    });
  }

  it("the first admin token may do everything too", async () => {
    expect((await api("GET", "/api/tokens", server.token)).status).toBe(200);
  });

  it("GET /api/session names the token, its scope and its webhooks", async () => {
    const reply = await api("GET", "/api/session", tokens.readA!.token);
    expect(reply.json).toMatchObject({
      via: "bearer",
      token: { name: "reader-a", scope: "read", webhooks: [hooks.a.id] },
    });
  });
});

describe("a token limited to some webhooks", () => {
  it("lists and reads only those; the others are 404 as if they did not exist", async () => {
    const t = tokens.readA!.token;
    const listed = await api("GET", "/api/webhooks", t);
    expect((listed.json.webhooks as { id: string }[]).map((w) => w.id)).toEqual([hooks.a.id]);
    expect(
      (await api("GET", `/api/webhooks?path=${encodeURIComponent(hooks.b.path)}`, t)).json.webhooks,
    ).toEqual([]);
    const other = await api("GET", `/api/webhooks/${hooks.b.id}`, t);
    const unknown = await api("GET", "/api/webhooks/no-such-id", t);
    expect(other.status).toBe(404);
    expect(other.json.message).toBe(unknown.json.message!.replace("no-such-id", hooks.b.id));
    expect((await api("GET", `/api/webhooks/${hooks.b.id}/versions`, t)).status).toBe(404);
    expect((await api("GET", `/api/webhooks/${hooks.a.id}/versions`, t)).status).toBe(200);
    const runs = await api("GET", "/api/runs", t);
    expect((runs.json.runs as { id: string }[]).map((r) => r.id)).toEqual([hooks.a.run]);
    expect((await api("GET", `/api/runs?webhook=${hooks.b.id}`, t)).status).toBe(404);
    expect((await api("GET", `/api/runs?path=${encodeURIComponent(hooks.b.path)}`, t)).status).toBe(404);
    expect((await api("GET", `/api/runs/${hooks.b.run}`, t)).status).toBe(404);
    expect((await api("GET", `/api/runs/${hooks.a.run}`, t)).status).toBe(200);
  });

  it("deploys new versions of its webhooks only, and cannot create webhooks", async () => {
    const t = tokens.deployA!.token;
    expect((await api("POST", "/api/webhooks", t, await addBody(hooks.a.path))).status).toBe(200);
    const other = await api("POST", "/api/webhooks", t, await addBody(hooks.b.path));
    const fresh = await api("POST", "/api/webhooks", t, await addBody(notebookFile("fresh")));
    expect(other.status).toBe(403);
    expect(fresh.status).toBe(403);
    expect(other.json.message).toBe(fresh.json.message); // nothing tells an existing webhook from a new one
    expect(fresh.json.message).toMatch(/limited to some webhooks.*never a new webhook/);
    expect((await api("POST", `/api/webhooks/${hooks.b.id}/rotate`, t)).status).toBe(404);
    expect((await api("POST", `/api/webhooks/${hooks.a.id}/rotate`, t)).status).toBe(200);
    expect((await admin.currents()).map((w) => w.path)).not.toContain(path.join(work, "fresh.ipynb"));
  });
});

describe("the live run feed", () => {
  it("sends a limited token the runs of its webhooks only", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/runs/events`, {
      headers: { authorization: `Bearer ${tokens.readA!.token}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const { store } = server.deps;
    const record = async (key: "a" | "b") => {
      const versions = await store.listVersions(hooks[key].id);
      const run = await store.createRun({
        webhookId: hooks[key].id,
        versionHisto: versions[0]!.histo,
        parameters: {},
      });
      await store.finishRun(run.id, { status: "ok", durationMs: 1, error: null, httpStatus: 200 });
      return run.id;
    };
    const ids: Record<string, string> = {};
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!ids.a || !text.includes(`id: ${ids.a}`)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (text.includes("event: ready") && !ids.b) {
        ids.b = await record("b"); // first, so that its event would come before a's
        await new Promise((resolve) => setTimeout(resolve, 700)); // a later poll of the feed
        ids.a = await record("a");
      }
    }
    await reader.cancel();
    controller.abort();
    expect(text).toContain(`id: ${ids.a}`);
    expect(text).not.toContain(ids.b!);
  });
});

describe("revoking a token", () => {
  it("refuses it at once, bearer and dashboard session alike; the last admin token stays", async () => {
    const made = await admin.createToken("short-lived", { scope: "read" });
    const signIn = await fetch(`${server.url}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: made.token }),
    });
    expect(signIn.status).toBe(201);
    expect(await signIn.json()).toMatchObject({
      via: "session",
      token: { name: "short-lived", scope: "read" },
    });
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    expect((await api("GET", "/api/webhooks", made.token)).status).toBe(200);
    expect((await api("GET", "/api/webhooks", null, undefined, { cookie })).status).toBe(200);
    // The session has the token's scope: a read session cannot rotate.
    const csrf = (
      (await (await fetch(`${server.url}/api/session`, { headers: { cookie } })).json()) as {
        csrf_token: string;
      }
    ).csrf_token;
    const rotate = await api("POST", `/api/webhooks/${hooks.a.id}/rotate`, null, undefined, {
      cookie,
      "x-csrf-token": csrf,
    });
    expect(rotate.status).toBe(403);
    expect(rotate.json.message).toContain('has scope "read"');

    const revoked = await admin.revokeToken("short-lived");
    expect(revoked.name).toBe("short-lived");
    expect((await api("GET", "/api/webhooks", made.token)).status).toBe(401);
    expect((await api("GET", "/api/webhooks", null, undefined, { cookie })).status).toBe(401);
    expect((await admin.listTokens()).map((t) => t.name)).not.toContain("short-lived");
    expect((await api("DELETE", "/api/tokens/short-lived", server.token)).status).toBe(404);

    // Two admin tokens: one may go; the last one may not.
    await admin.revokeToken("second-admin");
    const last = await api("DELETE", "/api/tokens/admin", server.token);
    expect(last.status).toBe(409);
    expect(last.json.message).toMatch(/last admin token/);
  });
});

describe("last used", () => {
  it("is empty until the token is used, then a time", async () => {
    const made = await admin.createToken("fresh-one", { scope: "read" });
    const before = (await admin.listTokens()).find((t) => t.name === "fresh-one")!;
    expect(before.last_used_at).toBeNull();
    expect((await api("GET", "/api/webhooks", made.token)).status).toBe(200);
    // The write is not waited for by the request (one a minute per token, off the hot path): it
    // lands shortly after the answer, on Postgres a round trip later.
    const lastUsed = async () => {
      const after = (await admin.listTokens()).find((t) => t.name === "fresh-one") as ApiToken;
      return after.last_used_at === null ? NaN : Date.parse(after.last_used_at);
    };
    await expect
      .poll(lastUsed, { timeout: 5000, interval: 50 })
      .toBeGreaterThanOrEqual(Date.parse(before.created_at));
  });
});

describe("the SQLite file", () => {
  it.skipIf(CLUSTER_TARGET)("holds the hashes of the tokens, never the tokens", async () => {
    const bytes = ["nbhook.db", "nbhook.db-wal"]
      .map((name) => path.join(server.home, name))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString("latin1"))
      .join("");
    expect(bytes.length).toBeGreaterThan(0);
    for (const made of Object.values(tokens)) {
      expect(bytes).not.toContain(made.token);
      expect(bytes).toContain(hashApiToken(made.token));
    }
    expect(bytes).not.toContain(server.token);
  });
});
