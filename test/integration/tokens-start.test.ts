/**
 * How a server comes by its admin token, and who it refuses: a first start prints a new token
 * once (the real `nbhook serve`, built dist/) and writes the CLI's copy; NBHOOK_ADMIN_TOKEN;
 * the upgrade of a home with an older nbhook's api-token file and of a cluster whose old token is
 * in Postgres; failed authentications limited per address (429, Retry-After, logged without the
 * token); and `nbhook tokens create|list|revoke`. Needs `npm run build`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { NbhookClient } from "../../src/client/index.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { openPgStore } from "../../src/store/index.js";
import { startFaultServer, stopFaultServers } from "../support/fault-server.js";
import { captureLog } from "../support/log-capture.js";
import { makeNotebook } from "../support/notebooks.js";
import { createTestDatabase } from "../support/postgres.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const folders: string[] = [];
const servers: RunningServer[] = [];

function folder(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

async function serve(
  home: string,
  more: Parameters<typeof resolveServerConfig>[0] = {},
  env: NodeJS.ProcessEnv = {},
  stream?: NodeJS.WritableStream,
) {
  const config = resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 0, ...more }, env);
  const server = await startServer(
    config,
    stream ? { logger: { level: "info", stream: stream as never } } : {},
  );
  servers.push(server);
  return server;
}

async function stop(server: RunningServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await server.close();
}

async function status(url: string, token: string | null, init: RequestInit = {}): Promise<number> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  return (await fetch(url, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } }))
    .status;
}

afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
  await stopFaultServers();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe("the first admin token", () => {
  it("is printed once by the first `nbhook serve`, written for the local CLI (0600), and never printed again", async () => {
    const first = await startFaultServer();
    const file = path.join(first.home, "api-token");
    const token = readFileSync(file, "utf8").trim();
    expect(token).toMatch(/^nbh_[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.stderr()).toContain("the first admin API token, shown this once");
    expect(first.stderr()).toContain(token);
    expect(await status(`${first.url}/api/webhooks`, token)).toBe(200);
    await first.stop();
    // The CLI's copy is not what the server checks: gone, the token still works.
    rmSync(file);
    const second = await startFaultServer({ home: first.home });
    expect(second.stderr()).not.toContain(token);
    expect(second.stderr()).not.toMatch(/nbh_/);
    expect(second.stderr()).toContain("nbhook tokens list");
    expect(existsSync(file)).toBe(false);
    expect(await status(`${second.url}/api/webhooks`, token)).toBe(200);
    await second.stop();
  });

  it("can be given by NBHOOK_ADMIN_TOKEN: registered hashed, no file written; a new value replaces the old", async () => {
    const home = folder("nbhook-env-");
    const given = `env-${randomBytes(24).toString("base64url")}`;
    const server = await serve(home, {}, { NBHOOK_ADMIN_TOKEN: given });
    expect(server.adminToken).toMatchObject({ created: false, token: given });
    expect(existsSync(path.join(home, "api-token"))).toBe(false);
    expect(await status(`${server.url}/api/tokens`, given)).toBe(200);
    const tokens = await new NbhookClient({ url: server.url, token: given }).listTokens();
    expect(tokens.map((t) => [t.name, t.scope])).toEqual([["admin", "admin"]]);
    await stop(server);
    const next = `env-${randomBytes(24).toString("base64url")}`;
    const again = await serve(home, {}, { NBHOOK_ADMIN_TOKEN: next });
    expect(await status(`${again.url}/api/webhooks`, given)).toBe(401);
    expect(await status(`${again.url}/api/webhooks`, next)).toBe(200);
    expect(readFileSync(path.join(home, "nbhook.db")).toString("latin1")).not.toContain(next);
    await stop(again);
  });

  it("refuses a short NBHOOK_ADMIN_TOKEN, saying how long it must be", async () => {
    const home = folder("nbhook-env-short-");
    await expect(serve(home, {}, { NBHOOK_ADMIN_TOKEN: "short" })).rejects.toThrow(
      /NBHOOK_ADMIN_TOKEN must be at least 32/,
    );
  });
});

describe("an upgrade", () => {
  it("imports the api-token file of an older nbhook as the admin token, hashed", async () => {
    const home = folder("nbhook-upgrade-");
    const old = randomBytes(32).toString("base64url"); // an older nbhook's token: no prefix
    writeFileSync(path.join(home, "api-token"), old + "\n", { mode: 0o600 });
    const server = await serve(home);
    expect(server.adminToken).toMatchObject({ imported: true, created: false });
    expect(await status(`${server.url}/api/tokens`, old)).toBe(200);
    expect(readFileSync(path.join(home, "api-token"), "utf8").trim()).toBe(old); // the CLI keeps working
    await stop(server);
    const again = await serve(home);
    expect(again.adminToken).toMatchObject({ imported: false, created: false });
    expect(await status(`${again.url}/api/webhooks`, old)).toBe(200);
    expect(readFileSync(path.join(home, "nbhook.db")).toString("latin1")).not.toContain(old);
    await stop(again);
  });

  it("keeps a short hand-made api-token working too (with a warning), and overwrites no file", async () => {
    const home = folder("nbhook-upgrade-short-");
    writeFileSync(path.join(home, "api-token"), "my-own-token\n", { mode: 0o600 });
    const log = captureLog();
    const server = await serve(home, {}, {}, log.stream);
    expect(server.adminToken.imported).toBe(true);
    expect(await status(`${server.url}/api/webhooks`, "my-own-token")).toBe(200);
    expect(log.lines.some((l) => /shorter than 32 characters/.test(String(l.msg)))).toBe(true);
    expect(JSON.stringify(log.lines)).not.toContain("my-own-token");
    expect(readFileSync(path.join(home, "api-token"), "utf8")).toBe("my-own-token\n");
    await stop(server);
  });

  it("imports a cluster's old shared token from Postgres, and removes its plain text", async () => {
    const db = await createTestDatabase("nbhook_tokens");
    try {
      const old = randomBytes(32).toString("base64url");
      const before = await openPgStore({ databaseUrl: db.url, cacheDir: folder("nbhook-pg-cache-") });
      await before.pool.query("INSERT INTO nbhook_settings (name, value) VALUES ('api_token', $1)", [old]);
      await before.close();
      const node = await serve(folder("nbhook-node-"), { databaseUrl: db.url, worker: false });
      expect(node.adminToken.imported).toBe(true);
      expect(await status(`${node.url}/api/tokens`, old)).toBe(200);
      const store = await openPgStore({ databaseUrl: db.url, cacheDir: folder("nbhook-pg-cache-") });
      const left = await store.pool.query("SELECT value FROM nbhook_settings WHERE name = 'api_token'");
      const rows = await store.pool.query("SELECT * FROM api_tokens");
      await store.close();
      expect(left.rowCount).toBe(0);
      expect(JSON.stringify(rows.rows)).not.toContain(old);
      // A second node of the same cluster takes the same token, without a file of its own.
      const second = await serve(folder("nbhook-node-"), { databaseUrl: db.url, worker: false });
      expect(second.adminToken).toMatchObject({ imported: false, created: false });
      expect(await status(`${second.url}/api/webhooks`, old)).toBe(200);
      await stop(second);
      await stop(node);
    } finally {
      await db.drop();
    }
  });
});

describe("failed authentications", () => {
  it("from one address are limited: 429 with Retry-After, for bearer, polling and sign-in; logged without the token", async () => {
    const log = captureLog();
    const server = await serve(folder("nbhook-limit-"), {}, {}, log.stream);
    const good = server.deps.apiToken;
    const wrong = `nbh_${"w".repeat(43)}`;
    const attempts = [
      () => status(`${server.url}/api/webhooks`, wrong),
      () => status(`${server.url}/api/runs/some-run`, wrong), // a webhook token for polling
      () =>
        status(`${server.url}/api/session`, null, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: wrong }),
        }),
    ];
    for (let i = 0; i < 10; i++) expect(await attempts[i % 3]!()).toBe(401);
    for (const attempt of attempts) expect(await attempt()).toBe(429);
    const refused = await fetch(`${server.url}/api/webhooks`, {
      headers: { authorization: `Bearer ${good}` },
    });
    expect(refused.status).toBe(429); // the address waits, whatever it sends now
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({
      error: "too-many-requests",
      message: expect.stringMatching(/try again in \d+ s/),
    });
    // No credentials at all is not a failed attempt (a page before sign-in), and is told 401 still.
    expect(await status(`${server.url}/api/webhooks`, null)).toBe(401);
    const warnings = log.lines.filter((l) => /refused: wrong token/.test(String(l.msg)));
    expect(warnings.length).toBe(10);
    for (const line of warnings) expect(line.ip).toBe("127.0.0.1");
    expect(JSON.stringify(log.lines)).not.toContain(wrong);
    expect(JSON.stringify(log.lines)).not.toContain("w".repeat(43));
    await stop(server);
  });
});

describe("nbhook tokens", () => {
  function nbhook(args: string[], home: string, url: string, env: Record<string, string> = {}) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args, "--url", url], {
        cwd: home,
        env: { PATH: process.env.PATH ?? "", HOME: home, NBHOOK_HOME: home, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("create prints the token only, list shows no token, revoke ends it; all with the local token file", async () => {
    const home = folder("nbhook-cli-tokens-");
    const server = await serve(home);
    const notebook = path.join(home, "report.ipynb");
    writeFileSync(notebook, JSON.stringify(makeNotebook(["1 + 1"])));
    await new NbhookClient({ url: server.url, token: server.deps.apiToken }).add(notebook);

    const created = await nbhook(
      ["tokens", "create", "ci", "--scope", "deploy", "--webhook", notebook],
      home,
      server.url,
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^nbh_[A-Za-z0-9_-]{43}\n$/);
    const token = created.stdout.trim();
    expect(created.stderr).toMatch(/shown this once/);
    expect(await status(`${server.url}/api/webhooks`, token)).toBe(200);

    const listed = await nbhook(["tokens", "list"], home, server.url);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+SCOPE\s+WEBHOOKS\s+CREATED\s+LAST USED/);
    expect(listed.stdout).toMatch(
      new RegExp(`ci\\s+deploy\\s+${notebook.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    expect(listed.stdout).toMatch(/admin\s+admin\s+\(all\)/);
    expect(listed.stdout).not.toContain(token);
    expect(listed.stdout).not.toContain(server.deps.apiToken);

    // A deploy token may not manage tokens: the CLI says why.
    const refused = await nbhook(["tokens", "list"], home, server.url, { NBHOOK_TOKEN: token });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/needs a token of scope "admin".*"ci" has scope "deploy"/);

    const revoked = await nbhook(["tokens", "revoke", "ci"], home, server.url);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('revoked the token "ci"');
    expect(await status(`${server.url}/api/webhooks`, token)).toBe(401);

    const noScope = await nbhook(["tokens", "create", "x"], home, server.url);
    expect(noScope.code).toBe(2);
    expect(noScope.stderr).toMatch(/--scope/);
    await stop(server);
  });
});
