/**
 * A running Jupyter kernel and the conversation with it: start (launch + handshake), execute,
 * interrupt, shutdown, kill, and death detection.
 *
 * An execute is finished only when both its `execute_reply` (shell) and the iopub `status: idle`
 * with the same parent have arrived; they come in either order.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AppError, coerceError } from "../errors.js";
import { KernelChannels } from "./channels.js";
import type { KernelSpec } from "./kernelspec.js";
import { isDenoKernel } from "./in-kernel-helpers.js";
import { launchKernel, type KernelExit, type LaunchedKernel, type LaunchOptions } from "./launch.js";
import {
  executeReplySchema,
  kernelInfoReplySchema,
  statusSchema,
  type Channel,
  type ExecuteReply,
  type KernelInfoReply,
  type Message,
} from "./messages.js";
import { WireCodec } from "./wire.js";

export interface StartOptions extends LaunchOptions {
  /** How long the kernel may take to answer kernel_info (default 60 s, papermill's). */
  startTimeoutMs?: number;
}

export interface ExecuteOptions {
  /** Called with every iopub message of this request except `status` and `execute_input`. */
  onIopub?: (msg: Message) => void;
  /** Interrupt after this long, then kill after `graceMs` more; the execute rejects with `timeout`. */
  timeoutMs?: number;
  /** Time an interrupted cell gets to stop before the kernel is killed (default 5 s). */
  graceMs?: number;
  silent?: boolean;
  storeHistory?: boolean;
}

export type { KernelExit } from "./launch.js";

interface PendingRequest {
  reply?: Message;
  idle: boolean;
  onIopub?: (msg: Message) => void;
  /** Set when the kernel asked for stdin: the cell is interrupted and fails with this message. */
  inputRequested?: string;
  resolve: (reply: Message) => void;
  reject: (err: Error) => void;
}

export class KernelClient {
  private readonly pending = new Map<string, PendingRequest>();
  /** Output handlers of finished executes that may still receive late iopub messages. */
  private readonly lingering = new Map<string, (msg: Message) => void>();
  private iopubSeen = false;
  /** Set while the handshake waits for the first iopub message. */
  private iopubWaiter: (() => void) | undefined;
  private exitInfo: KernelExit | undefined;
  readonly exited: Promise<KernelExit>;
  /** Whether outputs may trail the idle status (see iopubBarrier). */
  private readonly lateIopub: boolean;
  /** Set by start(): the kernel's kernel_info_reply. */
  info: KernelInfoReply = {};
  /** Decode/transport errors seen so far (bad signatures and the like); for diagnostics. */
  readonly protocolErrors: string[] = [];

  private constructor(
    readonly spec: KernelSpec,
    private readonly launched: LaunchedKernel,
    private readonly channels: KernelChannels,
  ) {
    this.lateIopub = isDenoKernel(spec);
    this.exited = launched.exited.then(async (exit) => {
      this.exitInfo = exit;
      this.failAll(this.deathError());
      this.channels.close();
      this.iopubWaiter?.();
      await this.launched.cleanup().catch(() => {});
      return exit;
    });
  }

  /** Launches the kernel of `spec` and waits until it answers on shell and iopub. */
  static async start(spec: KernelSpec, options: StartOptions = {}): Promise<KernelClient> {
    // Over TCP (kernels without ipc support) another process may take a port between our probe
    // and the kernel's bind; such a launch fails fast and is retried on fresh ports.
    for (let attempt = 1; ; attempt++) {
      try {
        return await KernelClient.startOnce(spec, options);
      } catch (err) {
        const portClash = err instanceof AppError && /address (already )?in use|AddrInUse/i.test(err.message);
        if (!portClash || attempt >= 3) throw err;
      }
    }
  }

  private static async startOnce(spec: KernelSpec, options: StartOptions): Promise<KernelClient> {
    const launched = await launchKernel(spec, options);
    const codec = new WireCodec(launched.connection.key);
    // The channels start receiving before the client exists; messages go to it once it does.
    const holder: { client?: KernelClient } = {};
    const channels = new KernelChannels(
      launched.connection,
      codec,
      (channel, msg) => holder.client?.dispatch(channel, msg),
      (channel, err) => holder.client?.protocolErrors.push(`${channel}: ${(err as Error).message ?? err}`),
    );
    const client = new KernelClient(spec, launched, channels);
    holder.client = client;
    try {
      await client.handshake(options.startTimeoutMs ?? 60_000);
      return client;
    } catch (err) {
      await client.kill();
      throw err;
    }
  }

  get pid(): number | undefined {
    return this.launched.pid;
  }

  /** How the kernel process was started: spawned, or forked by the fork server. */
  get startedBy(): "spawn" | "fork" {
    return this.launched.startedBy;
  }

  get isAlive(): boolean {
    return this.exitInfo === undefined;
  }

  /** kernel_info until a reply has arrived and iopub is proven live (the slow-joiner problem). */
  private async handshake(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => deadline - Date.now();
    const first = await this.request("shell", "kernel_info_request", {}, remaining());
    this.info = kernelInfoReplySchema.parse(first.content);
    while (!this.iopubSeen) {
      if (remaining() <= 0) throw this.startTimeout(timeoutMs);
      if (!this.isAlive) throw this.deathError();
      await this.channels.send("shell", this.channels.newHeader("kernel_info_request"), {});
      // Wake on the first iopub message rather than at the end of a fixed pause.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.iopubWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.iopubWaiter = undefined;
    }
  }

  private startTimeout(timeoutMs: number): AppError {
    return new AppError(
      "kernel-launch",
      `kernel "${this.spec.name}" did not answer within ${Math.round(timeoutMs / 1000)} s` +
        this.stderrSuffix(),
    );
  }

  private stderrSuffix(): string {
    const tail = this.launched.outputTail().trim();
    return tail ? `\n--- kernel output (last lines) ---\n${tail.split("\n").slice(-20).join("\n")}` : "";
  }

  private deathError(): AppError {
    const exit = this.exitInfo;
    const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
    const hint = exit?.signal === "SIGKILL" ? " (out of memory, or killed)" : "";
    return new AppError("kernel-died", `kernel "${this.spec.name}" ${how}${hint}${this.stderrSuffix()}`);
  }

  private failAll(err: Error): void {
    for (const [id, req] of this.pending) {
      this.pending.delete(id);
      req.reject(err);
    }
  }

  private dispatch(channel: Channel, msg: Message): void {
    if (channel === "iopub") {
      this.iopubSeen = true;
      this.iopubWaiter?.();
    }
    const parentId = msg.parent_header.msg_id;
    const req = parentId ? this.pending.get(parentId) : undefined;
    if (!req) {
      const late = parentId && channel === "iopub" ? this.lingering.get(parentId) : undefined;
      if (late && msg.header.msg_type !== "status") late(msg);
      return;
    }
    if (channel === "iopub") {
      if (msg.header.msg_type === "status") {
        const status = statusSchema.safeParse(msg.content);
        if (status.success && status.data.execution_state === "idle") req.idle = true;
      } else if (msg.header.msg_type !== "execute_input") {
        req.onIopub?.(msg);
      }
    } else if (channel === "stdin" && msg.header.msg_type === "input_request") {
      // Nobody can type here: fail the cell at once instead of waiting forever.
      req.inputRequested = "the notebook asked for input (input()/getpass), which a run cannot provide";
      void this.interrupt();
      return;
    } else if (channel === "shell" || channel === "control") {
      req.reply = msg;
    }
    if (req.reply && (req.idle || channel === "control" || !req.onIopub)) {
      this.pending.delete(parentId!);
      req.resolve(req.reply);
    }
  }

  /**
   * Sends a request and resolves with its reply. Requests made with `onIopub` (executes) also wait
   * for their iopub idle.
   */
  private request(
    channel: "shell" | "control",
    msgType: string,
    content: unknown,
    timeoutMs: number,
    onIopub?: (msg: Message) => void,
  ): Promise<Message> {
    if (!this.isAlive) return Promise.reject(this.deathError());
    let timer: NodeJS.Timeout | undefined;
    // Registered before sending: a fast reply must never arrive before anyone waits for it.
    const header = this.channels.newHeader(msgType);
    const promise = new Promise<Message>((resolve, reject) => {
      this.pending.set(header.msg_id, { idle: false, onIopub, resolve, reject });
      timer = setTimeout(() => {
        this.pending.delete(header.msg_id);
        reject(new AppError("timeout", `no ${msgType.replace("_request", "_reply")} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.channels.send(channel, header, content).catch((err: unknown) => {
        this.pending.delete(header.msg_id);
        reject(coerceError(err));
      });
    });
    return promise.finally(() => clearTimeout(timer));
  }

  /**
   * Runs `code`. Resolves with the execute_reply once reply and idle are in (status `ok`, `error`
   * or `aborted`); rejects with `timeout` after interrupting (and, if the interrupt does not take,
   * killing) the kernel, or with `kernel-died` when the process exits meanwhile.
   */
  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteReply> {
    if (!this.isAlive) throw this.deathError();
    const content = {
      code,
      silent: options.silent ?? false,
      store_history: options.storeHistory ?? !options.silent,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    };
    const header = this.channels.newHeader("execute_request");
    let req!: PendingRequest;
    const done = new Promise<Message>((resolve, reject) => {
      req = { idle: false, onIopub: options.onIopub ?? (() => {}), resolve, reject };
      this.pending.set(header.msg_id, req);
    });
    await this.channels.send("shell", header, content).catch((err: unknown) => {
      this.pending.delete(header.msg_id);
      throw coerceError(err);
    });
    const timeoutMs = options.timeoutMs ?? 0;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        void this.stopRunaway(done, options.graceMs ?? 5000);
      }, timeoutMs);
      timer.unref();
    }
    try {
      const reply = await done;
      if (this.lateIopub && req.onIopub) await this.iopubBarrier(header.msg_id, req.onIopub);
      if (timedOut) throw timeoutError(timeoutMs);
      const parsed = executeReplySchema.parse(reply.content);
      if (req.inputRequested && parsed.status !== "ok") {
        return { ...parsed, status: "error", ename: "StdinNotImplementedError", evalue: req.inputRequested };
      }
      return parsed;
    } catch (err) {
      if (timedOut) throw timeoutError(timeoutMs, err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Deno's kernel sometimes publishes a cell's display_data after that cell's `idle` (seen about
   * once in 60 awaited displays under load). Its iopub is one ordered stream, so once a
   * kernel_info request's own idle has come back, every late output of the cell has too.
   */
  private async iopubBarrier(msgId: string, onIopub: (msg: Message) => void): Promise<void> {
    this.lingering.set(msgId, onIopub);
    try {
      await this.request("shell", "kernel_info_request", {}, 5000, () => {});
    } catch {
      // A kernel that dies or stalls here is reported by the next request.
    } finally {
      this.lingering.delete(msgId);
    }
  }

  /** Interrupt a cell that ran over its time; kill the kernel if it does not stop within `graceMs`. */
  private async stopRunaway(done: Promise<unknown>, graceMs: number): Promise<void> {
    await this.interrupt().catch(() => {});
    const stopped = await Promise.race([done.then(() => true, () => true), sleep(graceMs, false, { ref: false })]);
    if (!stopped) await this.kill();
  }

  /** Interrupts the running cell, by SIGINT or an interrupt_request, as the kernelspec says. */
  async interrupt(): Promise<void> {
    if (!this.isAlive) return;
    if (this.spec.interruptMode === "message") {
      await this.request("control", "interrupt_request", {}, 5000);
    } else {
      this.launched.kill("SIGINT");
    }
  }

  /** One heartbeat round trip. */
  ping(timeoutMs?: number): Promise<boolean> {
    return this.channels.ping(timeoutMs);
  }

  /** Asks the kernel to exit; kills it if it has not within `graceMs`. Always resolves. */
  async shutdown(graceMs = 2000): Promise<KernelExit> {
    if (this.isAlive) {
      await this.request("control", "shutdown_request", { restart: false }, graceMs).catch(() => {});
      const exited = await Promise.race([this.exited.then(() => true), sleep(graceMs, false, { ref: false })]);
      if (!exited) return this.kill();
    }
    return this.exited;
  }

  /** SIGKILL, then wait for the exit to be seen. */
  async kill(): Promise<KernelExit> {
    if (this.isAlive) this.launched.kill("SIGKILL");
    return this.exited;
  }
}

function timeoutError(timeoutMs: number, cause?: unknown): AppError {
  return new AppError("timeout", `cell timed out after ${formatSeconds(timeoutMs)}`, { cause });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
