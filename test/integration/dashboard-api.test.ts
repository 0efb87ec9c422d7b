/**
 * What the dashboard stands on, over real HTTP without a browser: its pages and their security
 * headers, the session cookie (sign in, CSRF, Origin, sign out, tampering), who may open
 * /openapi.json and /docs, and the live feed of runs (`GET /api/runs/events`). Runs are recorded
 * through the store, so no kernel is needed. Needs `npm run build` (the pages).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookClient } from "../../src/client/index.js";
import { startServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

let server: TestServer;
let client: NbhookClient;
let webhookId: string;
let histo: string;
const work = mkdtempSync(path.join(os.tmpdir(), "nbhook-dash-"));

beforeAll(async () => {
  server = await startTestServer();
  client = new NbhookClient({ url: server.url, token: server.token });
  const file = path.join(work, "report.ipynb");
  writeFileSync(file, JSON.stringify(makeNotebook(["1 + 1"])));
  const added = await client.add(file);
  webhookId = added.webhook.id;
  histo = added.version.histo;
});

afterAll(async () => {
  await server.close();
  removeHome(server);
  rmSync(work, { recursive: true, force: true });
});

/** Signs in: the session cookie (name=value) and the CSRF token. */
async function signIn(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const response = await fetch(`${server.url}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: server.token }),
  });
  expect(response.status).toBe(201);
  const setCookie = response.headers.get("set-cookie")!;
  const body = (await response.json()) as { csrf_token: string };
  return { cookie: setCookie.split(";")[0]!, csrf: body.csrf_token, setCookie };
}

describe("the dashboard's pages", () => {
  it("answer the app's page at every dashboard path, with a CSP that allows no inline script", async () => {
    for (const page of ["/", "/signin", "/webhooks", `/webhooks/${webhookId}`, "/runs", "/runs/abc"]) {
      const response = await fetch(`${server.url}${page}`);
      expect(response.status, page).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const csp = response.headers.get("content-security-policy")!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await response.text();
      // Every script is a file of this server; none is inline.
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attributes, inline] of scripts) {
        expect(attributes).toMatch(/src="\/assets\/[^"]+\.js"/);
        expect(inline!.trim()).toBe("");
      }
    }
  });

  it("serve the app's files, cached for good (their names carry a hash)", async () => {
    const html = await (await fetch(server.url)).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const response = await fetch(`${server.url}${script}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/javascript/);
    expect(response.headers.get("cache-control")).toContain("immutable");
    expect((await response.text()).length).toBeGreaterThan(1000);
  });
});

describe("the session", () => {
  it("is an HttpOnly, SameSite=Strict cookie given for the API token only", async () => {
    const wrong = await fetch(`${server.url}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: "nope" }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const { setCookie, cookie } = await signIn();
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).toMatch(/Max-Age=43200/);
    expect(cookie).not.toContain(server.token);
    const session = await fetch(`${server.url}/api/session`, { headers: { cookie } });
    expect(await session.json()).toMatchObject({ signed_in: true, via: "session" });
  });

  it("opens reads; a change needs the CSRF token and the page's own origin", async () => {
    const { cookie, csrf } = await signIn();
    expect((await fetch(`${server.url}/api/webhooks`, { headers: { cookie } })).status).toBe(200);
    const rotate = (headers: Record<string, string>) =>
      fetch(`${server.url}/api/webhooks/${webhookId}/rotate`, {
        method: "POST",
        headers: { cookie, ...headers },
      });
    const noToken = await rotate({});
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ error: "forbidden" });
    expect((await rotate({ "x-csrf-token": "x".repeat(csrf.length) })).status).toBe(403);
    expect((await rotate({ "x-csrf-token": csrf, origin: "https://evil.example" })).status).toBe(403);
    expect((await rotate({ "x-csrf-token": csrf, origin: server.url })).status).toBe(200);
    expect((await rotate({ "x-csrf-token": csrf })).status).toBe(200);
    // A bearer token needs no CSRF token (a browser never sends that header by itself).
    const bearer = await fetch(`${server.url}/api/webhooks/${webhookId}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(bearer.status).toBe(200);
  });

  it("takes changes from the pages of --base-url's origin (behind a proxy, Host is the upstream's)", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "nbhook-home-"));
    const config = resolveServerConfig(
      { host: "127.0.0.1", port: 0, home, poolSize: 0, baseUrl: "https://nbhook.example/" },
      {},
    );
    const proxied = await startServer(config);
    try {
      const local = `http://127.0.0.1:${(proxied.app.server.address() as { port: number }).port}`;
      const session = await fetch(`${local}/api/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: proxied.deps.apiToken }),
      });
      const cookie = session.headers.get("set-cookie")!;
      expect(cookie).toMatch(/Secure/i); // the public address is https
      const csrf = ((await session.json()) as { csrf_token: string }).csrf_token;
      const signOut = (origin: string) =>
        fetch(`${local}/api/session`, {
          method: "DELETE",
          headers: { cookie: cookie.split(";")[0]!, "x-csrf-token": csrf, origin },
        });
      expect((await signOut("https://elsewhere.example")).status).toBe(403);
      expect((await signOut("https://nbhook.example")).status).toBe(200);
    } finally {
      await proxied.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("refuses a tampered or foreign cookie, and a wrong bearer even beside a good cookie", async () => {
    const { cookie } = await signIn();
    const [name, value] = cookie.split("=") as [string, string];
    const decoded = decodeURIComponent(value);
    const tampered = `${name}=${encodeURIComponent(decoded.replace(/^[^.]+/, "A".repeat(24)))}`;
    expect((await fetch(`${server.url}/api/webhooks`, { headers: { cookie: tampered } })).status).toBe(401);
    expect((await fetch(`${server.url}/api/webhooks`, { headers: { cookie: `${name}=junk` } })).status).toBe(
      401,
    );
    const both = await fetch(`${server.url}/api/webhooks`, {
      headers: { cookie, authorization: "Bearer wrong" },
    });
    expect(both.status).toBe(401);
  });

  it("ends at sign-out: the cookie is cleared and, replayed, refused", async () => {
    const { cookie, csrf } = await signIn();
    const out = await fetch(`${server.url}/api/session`, {
      method: "DELETE",
      headers: { cookie, "x-csrf-token": csrf },
    });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/nbhook_session=;/);
    expect((await fetch(`${server.url}/api/webhooks`, { headers: { cookie } })).status).toBe(401);
  });

  it("is needed for the API docs: a browser is sent to sign in, a script gets 401", async () => {
    const page = await fetch(`${server.url}/docs`, { headers: { accept: "text/html" }, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/signin?next=%2Fdocs");
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(401);
    const { cookie } = await signIn();
    expect((await fetch(`${server.url}/openapi.json`, { headers: { cookie } })).status).toBe(200);
  });
});

/** Reads Server-Sent Events from `response` until `until` says stop (or 10 s pass). */
async function readEvents(
  response: Response,
  until: (events: { event: string; data: string }[]) => boolean,
): Promise<{ event: string; data: string }[]> {
  const events: { event: string; data: string }[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = Date.now() + 10_000;
  while (!until(events) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data !== undefined) events.push({ event, data });
    }
  }
  await reader.cancel();
  return events;
}

describe("GET /api/runs/events", () => {
  it("says when it watches, then sends each run as it is queued, starts and finishes", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/runs/events`, {
      headers: { authorization: `Bearer ${server.token}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const { store } = server.deps;
    let runId = "";
    const events = await readEvents(response, (seen) => {
      if (seen.length === 1 && seen[0]!.event === "ready" && !runId) {
        // Recorded the way a call records its run: queued, then running, then finished.
        void (async () => {
          const run = await store.createRun({
            webhookId,
            versionHisto: histo,
            parameters: { city: "Paris" },
            queued: true,
          });
          runId = run.id;
          await new Promise((r) => setTimeout(r, 700));
          await store.startRun(run.id);
          await new Promise((r) => setTimeout(r, 700));
          await store.finishRun(run.id, { status: "ok", durationMs: 12, error: null, httpStatus: 200 });
        })();
      }
      return seen.some(
        (e) => e.event === "run" && (JSON.parse(e.data) as { status: string }).status === "ok",
      );
    });
    controller.abort();
    expect(events[0]!.event).toBe("ready");
    const statuses = events
      .filter((e) => e.event === "run")
      .map((e) => JSON.parse(e.data) as { id: string; status: string; path?: string; parameters: unknown });
    expect(statuses.map((s) => s.status)).toEqual(["queued", "running", "ok"]);
    expect(statuses.every((s) => s.id === runId)).toBe(true);
    expect(statuses[2]).toMatchObject({
      path: path.join(work, "report.ipynb"),
      parameters: { city: "Paris" },
    });
  });

  it("keeps to one webhook with ?webhook=, and needs a token or a session", async () => {
    expect((await fetch(`${server.url}/api/runs/events`)).status).toBe(401);
    const other = path.join(work, "other.ipynb");
    writeFileSync(other, JSON.stringify(makeNotebook(["2"])));
    const otherAdded = await client.add(other);
    const otherId = otherAdded.webhook.id;
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/runs/events?webhook=${otherId}`, {
      headers: { authorization: `Bearer ${server.token}` },
      signal: controller.signal,
    });
    const { store } = server.deps;
    let started = false;
    const events = await readEvents(response, (seen) => {
      if (seen.some((e) => e.event === "ready") && !started) {
        started = true;
        void (async () => {
          const mine = await store.createRun({ webhookId, versionHisto: histo, parameters: {} });
          await store.finishRun(mine.id, { status: "ok", durationMs: 1, error: null, httpStatus: 200 });
          await new Promise((r) => setTimeout(r, 600));
          const theirs = await store.createRun({
            webhookId: otherId,
            versionHisto: otherAdded.version.histo,
            parameters: {},
          });
          await store.finishRun(theirs.id, { status: "error", durationMs: 1, error: null, httpStatus: 500 });
        })();
      }
      return seen.some((e) => e.event === "run");
    });
    controller.abort();
    const runs = events
      .filter((e) => e.event === "run")
      .map((e) => JSON.parse(e.data) as { webhook_id: string });
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((r) => r.webhook_id === otherId)).toBe(true);
  });

  it("ends a stream opened with a session when the session ends", async () => {
    const { cookie, csrf } = await signIn();
    const response = await fetch(`${server.url}/api/runs/events`, { headers: { cookie } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open
    const out = await fetch(`${server.url}/api/session`, {
      method: "DELETE",
      headers: { cookie, "x-csrf-token": csrf },
    });
    expect(out.status).toBe(200);
    // Within the session check's period (5 s), the server ends the stream.
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return true;
    })();
    const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref());
    expect(await Promise.race([ended, late])).toBe(true);
  });

  it("answers HEAD without opening a stream", async () => {
    const head = await fetch(`${server.url}/api/runs/events`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
  });

  it("does not keep the server from closing", async () => {
    const own = await startTestServer();
    try {
      const response = await fetch(`${own.url}/api/runs/events`, {
        headers: { authorization: `Bearer ${own.token}` },
      });
      expect(response.status).toBe(200);
      const reading = response.body!.getReader().read();
      // Without the stream being ended, close() would wait for it for ever.
      const stuck = new Promise((_, reject) =>
        setTimeout(() => reject(new Error("close() hung on the stream")), 15_000).unref(),
      );
      await Promise.race([own.close(), stuck]);
      await reading.catch(() => undefined);
    } finally {
      removeHome(own);
    }
  });
});
