/**
 * Run notifications by email, received by a real in-process SMTP server: `notif_up` on success,
 * `notif_down` on failure, with the notebook and outcome in the subject and the duration, error
 * and output link in the body; a dead or silent SMTP server never fails nor delays the run.
 */
import { mkdtempSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { ParsedMail } from "mailparser";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig, type SmtpConfig } from "../../src/server/config.js";
import type { WebhookParams } from "../../src/store/index.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { captureLog } from "../support/log-capture.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";
import { deadPort, startSmtpServer, type TestSmtpServer } from "../support/smtp.js";

guardKernelLeaks();

const { lines: logLines, stream: logStream } = captureLog();

async function serve(smtp: SmtpConfig | undefined): Promise<RunningServer> {
  const home = mkdtempSync(path.join(os.tmpdir(), "notify-home-"));
  const config = { ...resolveServerConfig({ host: "127.0.0.1", port: 0, home }, {}), smtp };
  return startServer(config, { logger: { level: "info", stream: logStream } });
}

const smtpAt = (port: number): SmtpConfig => ({
  host: "127.0.0.1",
  port,
  secure: false,
  from: "nbhook@test.example",
});

async function deploy(server: RunningServer, name: string, cells: CellSpec[], params: WebhookParams) {
  const store = server.deps.store;
  const webhook = await store.upsertWebhook({
    path: `/work/notify/${name}`,
    params,
    debug: false,
    timeoutMs: 60_000,
  });
  await store.addVersion(webhook.id, Buffer.from(JSON.stringify(makeNotebook(cells))));
  return `${server.url}/notebook/${webhook.token}`;
}

async function call(url: string) {
  const started = Date.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, runId: res.headers.get("x-nbhook-run-id")!, ms: Date.now() - started };
}

const addresses = (mail: ParsedMail) =>
  [mail.to]
    .flat()
    .flatMap((to) => to?.value.map((a) => a.address) ?? [])
    .sort();

/** Waits until a log line matches (notifications are sent after the answer). */
async function waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = logLines.find(match);
    if (line) return line;
    if (Date.now() > deadline) throw new Error("no matching log line");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("with a working SMTP server", () => {
  let smtp: TestSmtpServer;
  let server: RunningServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    server = await serve(smtpAt(smtp.port));
  });
  afterAll(async () => {
    await server?.close();
    await smtp?.close();
  });

  it("mails notif_up after a successful run: subject, duration, links to the run's page and output", async () => {
    const url = await deploy(server, "report.ipynb", ["x = 1"], {
      notif_up: ["up@example.com"],
      notif_down: ["down@example.com"],
    });
    const { status, runId } = await call(url);
    expect(status).toBe(200);
    const mail = await smtp.waitForMail((m) => m.text?.includes(runId) ?? false);
    expect(mail.subject).toBe("nbhook: report.ipynb succeeded");
    expect(addresses(mail)).toEqual(["up@example.com"]);
    expect(mail.from?.text).toBe("nbhook@test.example");
    expect(mail.text).toMatch(/Duration: \d+\.\d s/);
    expect(mail.text).toContain(`${server.url}/api/runs/${runId}/output`);
    // The dashboard's page of the run: it opens in a browser (after signing in).
    expect(mail.html).toContain(`href="${server.url}/runs/${runId}"`);
    const page = await fetch(`${server.url}/runs/${runId}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
  });

  it("mails notif_down after a failed run with the error and its traceback", async () => {
    const url = await deploy(server, "failing.ipynb", ["def f():\n    raise ValueError('boom 42')\nf()"], {
      notif_up: ["up@example.com"],
      notif_down: ["down@example.com", "oncall@example.com"],
    });
    const { status, runId } = await call(url);
    expect(status).toBe(500);
    const mail = await smtp.waitForMail((m) => m.text?.includes(runId) ?? false);
    expect(mail.subject).toBe("nbhook: failing.ipynb failed (ValueError)");
    expect(addresses(mail)).toEqual(["down@example.com", "oncall@example.com"]);
    expect(mail.text).toContain("Error: ValueError: boom 42");
    expect(mail.text).toContain("----> 2     raise ValueError('boom 42')");
    expect(mail.text).not.toContain("\u001b[");
    expect(mail.text).toMatch(/Duration: \d+\.\d s/);
    expect(mail.text).toContain(`${server.url}/api/runs/${runId}/output`);
    expect(mail.html).toContain("boom 42");
  });

  it("names the timeout in the subject of a run that timed out", async () => {
    const store = server.deps.store;
    const webhook = await store.upsertWebhook({
      path: "/work/notify/slow.ipynb",
      params: { notif_down: ["down@example.com"] },
      debug: false,
      timeoutMs: 1500,
    });
    await store.addVersion(
      webhook.id,
      Buffer.from(JSON.stringify(makeNotebook(["import time\ntime.sleep(30)"]))),
    );
    const { status, runId } = await call(`${server.url}/notebook/${webhook.token}`);
    expect(status).toBe(504);
    const mail = await smtp.waitForMail((m) => m.text?.includes(runId) ?? false);
    expect(mail.subject).toBe("nbhook: slow.ipynb failed (TimeoutError)");
    expect(addresses(mail)).toEqual(["down@example.com"]);
  });

  it("sends nothing for an outcome without addresses, and takes a comma-separated string", async () => {
    // WebhookParams says string[]; a plain string (as Naas took it) must work too.
    const params = { notif_down: "a@example.com, b@example.com" } as unknown as WebhookParams;
    const url = await deploy(
      server,
      "quiet.ipynb",
      ["import os\nif os.path.exists('ran'):\n    raise RuntimeError('second')\nopen('ran', 'w')"],
      params,
    );
    const ok = await call(url);
    expect(ok.status).toBe(200);
    const failed = await call(url);
    expect(failed.status).toBe(500);
    const mail = await smtp.waitForMail((m) => m.text?.includes(failed.runId) ?? false);
    expect(addresses(mail)).toEqual(["a@example.com", "b@example.com"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.mails.filter((m) => m.text?.includes(ok.runId))).toEqual([]);
  });
});

describe("when mail cannot be sent", () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it("answers the run normally and logs the failure when nothing listens on the SMTP port", async () => {
    const server = await serve(smtpAt(await deadPort()));
    servers.push(server);
    const url = await deploy(server, "dead.ipynb", ["import naas\nnaas.webhook.respond_text('fine')"], {
      notif_up: ["up@example.com"],
    });
    const { status, runId } = await call(url);
    expect(status).toBe(200);
    expect((await server.deps.store.getRun(runId))!.status).toBe("ok");
    const line = await waitForLog((l) => l.run === runId && l.msg === "notification failed");
    expect(line).toMatchObject({
      to: ["up@example.com"],
      err: { message: expect.stringContaining("ECONNREFUSED") },
    });
  });

  it("does not wait for an SMTP server that accepts connections but never answers", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    try {
      const server = await serve(smtpAt((silent.address() as net.AddressInfo).port));
      servers.push(server);
      const url = await deploy(server, "silent.ipynb", ["x = 1"], { notif_up: ["up@example.com"] });
      const first = await call(url);
      const second = await call(url);
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(second.ms).toBeLessThan(4000); // the greeting timeout is 5 s
      await waitForLog((l) => l.run === first.runId && l.msg === "notification failed", 20_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("logs the mail it would have sent when no SMTP server is configured", async () => {
    const server = await serve(undefined);
    servers.push(server);
    const url = await deploy(server, "nosmtp.ipynb", ["raise ValueError('x')"], {
      notif_down: ["down@example.com"],
    });
    const { status, runId } = await call(url);
    expect(status).toBe(500);
    const line = await waitForLog(
      (l) => l.run === runId && typeof l.msg === "string" && l.msg.includes("would have been sent"),
    );
    expect(line).toMatchObject({
      to: ["down@example.com"],
      subject: "nbhook: nosmtp.ipynb failed (ValueError)",
    });
  });
});
