/**
 * @module Email after a webhook run: `notif_up` addresses on success, `notif_down` on failure
 * (Naas's notifications, over plain SMTP with nodemailer instead of Naas's hosted service).
 *
 * Sending never delays or fails a run: `Notifier.send` returns at once, failures are logged, and
 * the SMTP timeouts are short so a dead server does not pile connections up. Without SMTP
 * settings the mail is logged ("would have sent") instead.
 */
import nodemailer, { type Transporter } from "nodemailer";
import { stripAnsi } from "../notebook/ansi.js";
import type { ExecutionStatus, RunError, RunLogger } from "./types.js";

/** Same shape as the server's SmtpConfig (src/server/config.ts). */
export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: string;
  from: string;
}

export interface RunNotice {
  /** The notebook's file name, e.g. `report.ipynb`. */
  notebook: string;
  /** The deployed path (the webhook's key). */
  path: string;
  runId: string;
  status: ExecutionStatus;
  durationMs: number;
  error?: RunError;
  /** Link to the run's output notebook (.ipynb, through the API: needs the API token). */
  outputUrl: string;
  /** Link to the run's page on the dashboard (opens after signing in). */
  runPageUrl: string;
}

export interface Message {
  subject: string;
  text: string;
  html: string;
}

/** The addresses of an add-time `notif_up`/`notif_down` (a string, comma-separated or not, or a list). */
export function recipients(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items
    .filter((item): item is string => typeof item === "string")
    .flatMap((item) => item.split(","))
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Who gets mail for this outcome: `notif_up` when the run succeeded, else `notif_down`. */
export function recipientsFor(params: Record<string, unknown>, status: ExecutionStatus): string[] {
  return recipients(status === "ok" ? params.notif_up : params.notif_down);
}

const OUTCOME: Record<ExecutionStatus, string> = {
  ok: "succeeded",
  error: "failed",
  timeout: "failed",
  died: "failed",
};

export function composeMessage(notice: RunNotice): Message {
  const ok = notice.status === "ok";
  const subject = ok
    ? `nbhook: ${notice.notebook} succeeded`
    : `nbhook: ${notice.notebook} ${OUTCOME[notice.status]} (${notice.error?.ename || notice.status})`;
  const seconds = (notice.durationMs / 1000).toFixed(1);
  const lines = [
    `${notice.notebook} (${notice.path}) ${ok ? "succeeded" : "failed"}, run ${notice.runId}.`,
    `Duration: ${seconds} s`,
  ];
  const error = notice.error;
  const traceback = error ? error.traceback.map((line) => stripAnsi(line)).join("\n") : "";
  if (error) {
    lines.push(`Error: ${error.ename}: ${stripAnsi(error.evalue)}`);
    if (traceback) lines.push("", traceback);
  }
  lines.push("", `The run: ${notice.runPageUrl}`, `Output notebook (.ipynb, API): ${notice.outputUrl}`);
  const html = [
    `<p><b>${escapeHtml(notice.notebook)}</b> (${escapeHtml(notice.path)}) ${ok ? "succeeded" : "failed"}, run ${escapeHtml(notice.runId)}.</p>`,
    `<p>Duration: ${seconds} s</p>`,
    error ? `<p>Error: <b>${escapeHtml(error.ename)}</b>: ${escapeHtml(stripAnsi(error.evalue))}</p>` : "",
    traceback ? `<pre>${escapeHtml(traceback)}</pre>` : "",
    `<p><a href="${escapeHtml(notice.runPageUrl)}">Open the run</a> (its executed notebook, parameters and answer)</p>`,
  ].join("\n");
  return { subject, text: lines.join("\n") + "\n", html };
}

export interface NotifierOptions {
  /** Connection, greeting and socket timeouts in ms. @default 5000 */
  timeoutMs?: number;
}

/** Sends run notifications; one per server, closed with it. */
export class Notifier {
  private readonly transport: Transporter | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly smtp: SmtpSettings | undefined,
    private readonly logger: RunLogger,
    options: NotifierOptions = {},
  ) {
    const timeout = options.timeoutMs ?? 5000;
    this.transport = smtp
      ? nodemailer.createTransport({
          host: smtp.host,
          port: smtp.port,
          secure: smtp.secure,
          auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? "" } : undefined,
          connectionTimeout: timeout,
          greetingTimeout: timeout,
          socketTimeout: timeout * 2,
          dnsTimeout: timeout,
        })
      : undefined;
  }

  /** Starts sending to `to` (nothing when empty) and returns at once. */
  send(to: string[], notice: RunNotice, logger: RunLogger = this.logger): void {
    if (to.length === 0) return;
    const message = composeMessage(notice);
    const done = this.deliver(to, message, notice, logger).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** Waits for mails being sent (each bounded by the timeouts). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    this.transport?.close();
  }

  private async deliver(to: string[], message: Message, notice: RunNotice, logger: RunLogger): Promise<void> {
    const about = { run: notice.runId, to, subject: message.subject };
    if (!this.transport || !this.smtp) {
      logger.info(
        about,
        "notification not sent: no SMTP server configured (set NBHOOK_SMTP_HOST); it would have been sent",
      );
      return;
    }
    try {
      await this.transport.sendMail({ from: this.smtp.from, to, ...message });
      logger.info(about, "notification sent");
    } catch (err) {
      logger.error(
        { ...about, err: { message: (err as Error).message, code: (err as { code?: unknown }).code } },
        "notification failed",
      );
    }
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
