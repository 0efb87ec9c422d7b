/**
 * The mail server down, on a real `nbhook serve` process with NBHOOK_SMTP_HOST/PORT set: nothing
 * listening on the port, then a server that accepts connections and never says a word. Calls of
 * webhooks with notif_up/notif_down still answer as usual, promptly, and each failed mail is
 * logged with its run; once a real SMTP server answers on that port, mail goes out again (no
 * restart).
 */
import net from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  call,
  startFaultServer,
  stopFaultServers,
  waitFor,
  type Answer,
  type FaultServer,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { deadPort, startSmtpServer, type TestSmtpServer } from "../support/smtp.js";

guardKernelLeaks();
afterEach(stopFaultServers);

/**
 * How long a call may take beyond its run (the `run` of Server-Timing): less than nbhook's SMTP
 * greeting timeout (5 s), which a call that waited for its mail would add at least.
 */
const PROMPT_MS = 3000;

/** The caller's wait beyond the run itself. */
function overRunMs(answer: Answer): number {
  const run = /run;dur=(\d+(\.\d+)?)/.exec(answer.headers.get("server-timing") ?? "")?.[1];
  if (run === undefined)
    throw new Error(`no run time in Server-Timing: ${answer.headers.get("server-timing")}`);
  return answer.ms - Number(run);
}

/** One loopback port whose behaviour the test switches: refused, silent, or an SMTP server. */
class MailPort {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private constructor(readonly port: number) {}

  static async reserve(): Promise<MailPort> {
    return new MailPort(await deadPort());
  }

  /** Nothing listens: connections are refused. */
  async refuse(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections and never sends the SMTP greeting. */
  silent(): Promise<void> {
    return this.listen((socket) => {
      this.sockets.add(socket);
      socket.on("error", () => undefined);
    });
  }

  /** Relays every connection to a real SMTP server. */
  relayTo(port: number): Promise<void> {
    return this.listen((socket) => {
      this.sockets.add(socket);
      const upstream = net.connect(port, "127.0.0.1");
      this.sockets.add(upstream);
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    });
  }

  private async listen(onConnection: (socket: net.Socket) => void): Promise<void> {
    await this.refuse();
    const server = net.createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }
}

const PARAMS = { notif_up: ["up@example.com"], notif_down: ["down@example.com"] };

function failedMail(server: FaultServer, runId: string) {
  return server.logLines().find((l) => l.run === runId && l.msg === "notification failed") as
    { level: number; to: string[]; err: { message: string; code?: string } } | undefined;
}

describe("the SMTP server down", () => {
  let mailPort: MailPort | undefined;
  let smtp: TestSmtpServer | undefined;
  afterAll(async () => {
    await mailPort?.refuse();
    await smtp?.close();
  });

  it("answers calls as usual and promptly, logs every failed mail, and sends again once the SMTP server is back", async () => {
    mailPort = await MailPort.reserve();
    const server = await startFaultServer({
      args: ["--pool", "1"],
      env: {
        NBHOOK_SMTP_HOST: "127.0.0.1",
        NBHOOK_SMTP_PORT: String(mailPort.port),
        NBHOOK_SMTP_SECURE: "false",
        NBHOOK_SMTP_FROM: "nbhook@test.example",
      },
    });
    expect(server.stderr()).toContain(`email via 127.0.0.1:${mailPort.port}`);
    const ok = await server.deploy("ok", ["import naas\nnaas.webhook.respond_text('fine')"], {
      params: PARAMS,
    });
    const failing = await server.deploy("failing", ["raise ValueError('down on purpose')"], {
      params: PARAMS,
    });

    const durations: number[] = [];
    const beyondRun: number[] = [];
    const both = async () => {
      const up = await call(ok.url);
      const down = await call(failing.url);
      durations.push(up.ms, down.ms);
      beyondRun.push(overRunMs(up), overRunMs(down));
      expect([up.status, up.text]).toEqual([200, "fine"]);
      expect(down.status, down.text).toBe(500);
      expect(down.json()).toMatchObject({
        error: "run-failed",
        ename: "ValueError",
        evalue: "down on purpose",
      });
      expect(overRunMs(up), "a call waited for its mail").toBeLessThan(PROMPT_MS);
      expect(overRunMs(down), "a call waited for its mail").toBeLessThan(PROMPT_MS);
      return [up, down].map((a) => a.headers.get("x-nbhook-run-id")!);
    };

    // Nothing listening on the port.
    const refusedRuns = await both();
    for (const runId of refusedRuns) {
      await waitFor(
        `"notification failed" logged for run ${runId}`,
        () => !!failedMail(server, runId),
        15_000,
      );
      expect(failedMail(server, runId)).toMatchObject({
        level: 50,
        err: { message: expect.stringContaining("ECONNREFUSED") },
      });
    }
    expect(failedMail(server, refusedRuns[0]!)!.to).toEqual(["up@example.com"]);
    expect(failedMail(server, refusedRuns[1]!)!.to).toEqual(["down@example.com"]);

    // A server that accepts connections and never greets: the calls do not wait for it.
    await mailPort.silent();
    const silentRuns = await both();
    const third = await call(ok.url); // while both mails still hang
    durations.push(third.ms);
    beyondRun.push(overRunMs(third));
    expect(third.status).toBe(200);
    expect(overRunMs(third), "a call waited for its mail").toBeLessThan(PROMPT_MS);
    for (const runId of silentRuns) {
      await waitFor(
        `"notification failed" logged for run ${runId}`,
        () => !!failedMail(server, runId),
        20_000,
      );
      expect(failedMail(server, runId)!.err.message).toMatch(/greeting|timeout/i);
    }

    // The mail server back on the same port: the next mails go out, no restart needed.
    smtp = await startSmtpServer();
    await mailPort.relayTo(smtp.port);
    const [upRun, downRun] = await both();
    const upMail = await smtp.waitForMail((m) => m.text?.includes(upRun!) ?? false);
    expect(upMail.subject).toBe("nbhook: ok.ipynb succeeded");
    const downMail = await smtp.waitForMail((m) => m.text?.includes(downRun!) ?? false);
    expect(downMail.subject).toBe("nbhook: failing.ipynb failed (ValueError)");

    const runs = [...(await server.runs(ok.id)), ...(await server.runs(failing.id))];
    expect(runs.map((r) => r.status).sort()).toEqual(["error", "error", "error", "ok", "ok", "ok", "ok"]);
    const failures = server.logLines().filter((l) => l.msg === "notification failed");
    console.info(
      `smtp-down: ${failures.length} failed mails logged; calls took ${Math.min(...durations)}-${Math.max(...durations)} ms, ` +
        `at most ${Math.max(...beyondRun).toFixed(0)} ms beyond their run`,
    );
  });
});
