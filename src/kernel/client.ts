/**
 * A running Jupyter kernel and the conversation with it: start (launch + attach + handshake),
 * execute, interrupt, shutdown, kill, and death detection.
 *
 * An execute is finished only when both its `execute_reply` (shell) and the iopub `status: idle`
 * with the same parent have arrived; they come in either order.
 */
import { AppError, coerceError } from "../errors.js";
import { KernelChannels } from "./channels.js";
import { forkableModule } from "./forkserver.js";
import { isDenoKernel } from "./in-kernel-helpers.js";
import type { KernelSpec } from "./kernelspec.js";
import { launchKernel } from "./launch.js";
import {
  REPLY_TYPES,
  type ExecuteReply,
  type IopubOutput,
  type KernelInfoReply,
  type ReplyOf,
  type RequestContent,
  type RequestHeader,
  type RequestType,
} from "./messages.js";
import { InFlightRequests } from "./requests.js";
import type { Channel, KernelExit, LaunchedKernel, LaunchOptions } from "./types.js";
import { WireCodec, type Decoded } from "./wire.js";

export interface AttachOptions {
  /** How long the kernel may take to answer kernel_info (default 60 s, papermill's). */
  startTimeoutMs?: number;
}

export interface StartOptions extends LaunchOptions, AttachOptions {}

export interface ExecuteOptions {
  /** Called with every output message of this request (stream, display_data, error, …). */
  onIopub?: (msg: IopubOutput) => void;
  /** Interrupt after this long, then kill after `graceMs` more; the execute rejects with `timeout`. */
  timeoutMs?: number;
  /** Time an interrupted cell gets to stop before the kernel is killed (default 5 s). */
  graceMs?: number;
  silent?: boolean;
  storeHistory?: boolean;
  /**
   * Receives a function that re-arms the timeout (ms from now; 0 or undefined: none) while the
   * request runs: one request that runs several cells gives each cell its own time limit.
   */
  bindTimer?: (arm: (timeoutMs: number | undefined) => void) => void;
  /** Called when the timeout fires, before the interrupt is sent. */
  onTimeout?: () => void;
}

/** Protocol errors kept for diagnostics; a kernel that sends garbage forever must not grow memory. */
const MAX_PROTOCOL_ERRORS = 100;
/** A request's kernel died: iopub is read until quiet this long (at most the max) before it fails. */
const DEATH_QUIET_MS = 15;
const DEATH_DRAIN_MAX_MS = 250;

/** How long the handshake waits for iopub after the first kernel_info_reply (see handshake). */
const IOPUB_LAG_MS = 5;

export class KernelClient {
  private readonly requests = new InFlightRequests({
    onInputRequest: () => void this.interrupt().catch(() => {}),
    onProtocolError: (channel, err) => this.recordProtocolError(channel, err),
  });
  private iopubSeen = false;
  private lastIopubAt = 0;
  /** Set while the handshake waits for the first iopub message. */
  private iopubWaiter: (() => void) | undefined;
  private exitInfo: KernelExit | undefined;
  private stopping = false;
  readonly exited: Promise<KernelExit>;
  /** Whether outputs may trail the idle status (see iopubBarrier). */
  private readonly lateIopub: boolean;
  /** Set by the handshake: the kernel's kernel_info_reply. */
  info: KernelInfoReply = {};
  /** Protocol errors seen so far (bad signatures, invalid content, …), oldest first; for diagnostics. */
  readonly protocolErrors: string[] = [];
  private readonly channels: KernelChannels;

  private constructor(
    readonly spec: KernelSpec,
    private readonly launched: LaunchedKernel,
  ) {
    this.lateIopub = isDenoKernel(spec);
    const codec = new WireCodec(launched.connection.key);
    this.channels = new KernelChannels(
      launched.connection,
      codec,
      (channel, decoded) => this.receive(channel, decoded),
      (channel, err) => this.recordProtocolError(channel, coerceError(err)),
      // ipykernel honours allow_stdin, which nbhook always sends false (input() raises in the
      // kernel): its stdin channel would never carry a message. One socket less per kernel.
      { stdin: forkableModule(spec) === undefined },
    );
    this.exited = launched.exited.then(async (exit) => {
      this.exitInfo = exit;
      // What the kernel published before it died may still be unread (in the socket, in this
      // process's libzmq queue) when its exit is seen: a run must keep the last outputs of the
      // cell before the one that killed it, as with a request per cell. Read iopub until it is
      // quiet, boundedly (not when nbhook ended the kernel: what the request waited for is not coming).
      if (!this.stopping && this.requests.size > 0) await this.iopubQuiet(DEATH_QUIET_MS, DEATH_DRAIN_MAX_MS);
      this.requests.failAll(this.deathError());
      this.channels.close();
      this.iopubWaiter?.();
      await this.launched.cleanup().catch(() => {});
      return exit;
    });
  }

  /** Launches the kernel of `spec` and attaches to it (see attach()). */
  static async start(spec: KernelSpec, options: StartOptions = {}): Promise<KernelClient> {
    // Over TCP (kernels without ipc support) another process may take a port between our probe
    // and the kernel's bind; such a launch fails fast and is retried on fresh ports.
    for (let attempt = 1; ; attempt++) {
      try {
        return await KernelClient.attach(spec, await launchKernel(spec, options), options);
      } catch (err) {
        const portClash = err instanceof AppError && /address (already )?in use|AddrInUse/i.test(err.message);
        if (!portClash || attempt >= 3) throw err;
      }
    }
  }

  /**
   * Connects to a launched kernel and waits until it answers on shell and iopub. The kernel is
   * killed when that fails. Any LaunchedKernel will do, a real process or a scripted fake.
   */
  static async attach(
    spec: KernelSpec,
    launched: LaunchedKernel,
    options: AttachOptions = {},
  ): Promise<KernelClient> {
    const client = new KernelClient(spec, launched);
    try {
      await client.handshake(options.startTimeoutMs ?? 60_000);
      await launched.connected?.();
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

  /** Forked with nbhook's helpers imported and a first execute's costs paid (no warm-up needed). */
  get prewarmed(): boolean {
    return this.launched.prewarmed === true;
  }

  /** Whether nbhook asked the kernel to stop (shutdown or kill): its exit is no death then. */
  get stopRequested(): boolean {
    return this.stopping;
  }

  get isAlive(): boolean {
    return this.exitInfo === undefined;
  }

  /** kernel_info until a reply has arrived and iopub is proven live (the slow-joiner problem). */
  private async handshake(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => deadline - Date.now();
    const first = await this.request("shell", "kernel_info_request", {}, remaining());
    this.info = first.content;
    // The reply (shell, sent by the kernel's main thread) often overtakes the request's `busy`
    // (iopub, sent through its IOPub thread): of 30 forked starts, 9 had no iopub message at the
    // reply, 7 of them got it 0.2–0.7 ms later. Waiting a little first spares those kernels a
    // second request (~3 ms of a kernel's CPU).
    if (!this.iopubSeen) await this.iopubOrPause(IOPUB_LAG_MS);
    while (!this.iopubSeen) {
      if (remaining() <= 0) throw this.startTimeout(timeoutMs);
      if (!this.isAlive) throw this.deathError();
      await this.channels.send("shell", this.channels.newHeader("kernel_info_request"), {});
      await this.iopubOrPause(50);
    }
  }

  /** Resolves on the next iopub message, or after `ms`. */
  private async iopubOrPause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.iopubWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.iopubWaiter = undefined;
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

  private recordProtocolError(channel: Channel, err: Error): void {
    this.protocolErrors.push(`${channel}: ${err.message}`);
    if (this.protocolErrors.length > MAX_PROTOCOL_ERRORS) this.protocolErrors.shift();
  }

  /** Resolves once no iopub message came for `quietMs`, or after `maxMs`. */
  private async iopubQuiet(quietMs: number, maxMs: number): Promise<void> {
    const start = performance.now();
    for (;;) {
      const now = performance.now();
      const quietFor = now - Math.max(this.lastIopubAt, start);
      if (quietFor >= quietMs || now - start >= maxMs) return;
      await delay(Math.min(quietMs - quietFor, maxMs - (now - start)), undefined);
    }
  }

  private receive(channel: Channel, decoded: Decoded): void {
    if (channel === "iopub") this.lastIopubAt = performance.now();
    // Any signed iopub message proves the subscription is live, whatever its type or content.
    if (channel === "iopub" && decoded.kind !== "invalid-frames") {
      this.iopubSeen = true;
      this.iopubWaiter?.();
    }
    switch (decoded.kind) {
      case "message":
        return this.requests.receive(channel, decoded.message);
      case "other":
        return;
      case "invalid-frames":
        return this.recordProtocolError(channel, decoded.error);
      case "invalid-content":
        this.recordProtocolError(channel, decoded.error);
        // The reply a request waits for, or a status that may be the idle ending it: fail the request
        // now rather than at its timeout (or never, without one).
        if (channel !== "iopub") this.requests.failReply(decoded.parentId, decoded.msgType, decoded.error);
        else if (decoded.msgType === "status" && decoded.parentId)
          this.requests.fail(decoded.parentId, decoded.error);
        return;
    }
  }

  /** Sends a request and resolves with its reply, or rejects after `timeoutMs`. */
  private async request<T extends RequestType>(
    channel: "shell" | "control",
    msgType: T,
    content: RequestContent<T>,
    timeoutMs: number,
    onIopub?: (msg: IopubOutput) => void,
  ): Promise<ReplyOf<T>> {
    if (!this.isAlive) throw this.deathError();
    const header = this.channels.newHeader(msgType);
    const { done } = this.requests.register(header, onIopub);
    const timer = setTimeout(() => {
      this.requests.fail(
        header.msg_id,
        new AppError("timeout", `no ${REPLY_TYPES[msgType]} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    timer.unref();
    try {
      await this.send(channel, header, content);
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }

  private async send<T extends RequestType>(
    channel: "shell" | "control",
    header: RequestHeader<T>,
    content: RequestContent<T>,
  ): Promise<void> {
    try {
      await this.channels.send(channel, header, content);
    } catch (err) {
      this.requests.fail(header.msg_id, coerceError(err));
    }
  }

  /**
   * Runs `code`. Resolves with the execute_reply once reply and idle are in (status `ok`, `error`
   * or `aborted`); rejects with `timeout` after interrupting (and, if the interrupt does not take,
   * killing) the kernel, with `kernel-died` when the process exits meanwhile, or with `protocol`
   * when the reply cannot be read.
   */
  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteReply> {
    if (!this.isAlive) throw this.deathError();
    const header = this.channels.newHeader("execute_request");
    const onIopub = options.onIopub ?? (() => {});
    const { done, state } = this.requests.register(header, onIopub);
    let timeoutMs = 0;
    let timedOut = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number | undefined) => {
      if (timedOut || settled) return;
      clearTimeout(timer);
      timer = undefined;
      timeoutMs = ms ?? 0;
      if (timeoutMs <= 0) return;
      timer = setTimeout(() => {
        timedOut = true;
        options.onTimeout?.();
        void this.stopRunaway(done, options.graceMs ?? 5000);
      }, timeoutMs);
      timer.unref();
    };
    arm(options.timeoutMs);
    options.bindTimer?.(arm);
    await this.send("shell", header, {
      code,
      silent: options.silent ?? false,
      store_history: options.storeHistory ?? !options.silent,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    try {
      const reply = (await done).content;
      if (this.lateIopub) await this.iopubBarrier(header.msg_id, onIopub);
      if (timedOut) throw timeoutError(timeoutMs);
      if (state.inputRequested && reply.status !== "ok") {
        return { ...reply, status: "error", ename: "StdinNotImplementedError", evalue: INPUT_REQUESTED };
      }
      return reply;
    } catch (err) {
      if (timedOut) throw timeoutError(timeoutMs, err);
      throw err;
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  }

  /**
   * Deno's kernel sometimes publishes a cell's display_data after that cell's `idle` (seen about
   * once in 60 awaited displays under load). Its iopub is one ordered stream, so once a
   * kernel_info request's own idle has come back, every late output of the cell has too.
   */
  private async iopubBarrier(msgId: string, onIopub: (msg: IopubOutput) => void): Promise<void> {
    const stop = this.requests.linger(msgId, onIopub);
    try {
      await this.request("shell", "kernel_info_request", {}, 5000, () => {});
    } catch {
      // A kernel that dies or stalls here is reported by the next request.
    } finally {
      stop();
    }
  }

  /** Interrupt a cell that ran over its time; kill the kernel if it does not stop within `graceMs`. */
  private async stopRunaway(done: Promise<unknown>, graceMs: number): Promise<void> {
    await this.interrupt().catch(() => {});
    const stopped = await Promise.race([
      done.then(
        () => true,
        () => true,
      ),
      delay(graceMs, false),
    ]);
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

  /**
   * Asks the kernel to exit as an interpreter does (atexit callbacks, open files flushed); kills it
   * (SIGKILL) if it has not exited `graceMs` after the request, reply and exit together. Always
   * resolves. 5 s: a spawned kernel's whole teardown takes ~50 ms when idle but over 2 s on two
   * busy cores (seen in the test suite), and a kill loses what atexit would have flushed; the wait
   * is off the hot path (after the answer).
   */
  async shutdown(graceMs = 5000): Promise<KernelExit> {
    this.stopping = true;
    // With no request in flight nothing on iopub is awaited any more (~0.2 ms of this process's
    // CPU per kernel, forked kernels shut down after every isolated call).
    if (this.requests.size === 0) this.channels.closeIopub();
    if (this.isAlive) {
      const deadline = Date.now() + graceMs;
      await this.request("control", "shutdown_request", { restart: false }, graceMs).catch(() => {});
      const left = Math.max(0, deadline - Date.now());
      const exited = await Promise.race([this.exited.then(() => true), delay(left, false)]);
      if (!exited) return this.kill();
    }
    return this.exited;
  }

  /** SIGKILL, then wait for the exit to be seen. */
  async kill(): Promise<KernelExit> {
    this.stopping = true;
    if (this.isAlive) this.launched.kill("SIGKILL");
    return this.exited;
  }
}

const INPUT_REQUESTED = "the notebook asked for input (input()/getpass), which a run cannot provide";

/**
 * An unref'd pause on the global timers (not node:timers/promises), so that tests with fake
 * clocks control it like every other timer here.
 */
function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

function timeoutError(timeoutMs: number, cause?: unknown): AppError {
  return new AppError("timeout", `cell timed out after ${formatSeconds(timeoutMs)}`, { cause });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
