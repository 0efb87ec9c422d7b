/**
 * A scripted fake Jupyter kernel at the socket boundary, for fast unit tests without Python. It
 * binds shell, control and stdin (ROUTER), iopub (PUB) and hb (REP) on ipc endpoints in a private
 * temp folder and speaks the real wire codec with the connection's key, so a KernelClient attached
 * to it runs all of its own code. Requests are answered by scripts:
 *
 *   const { kernel, fake } = await startFakeKernel((fake) =>
 *     fake.onExecute((code, k) => {
 *       k.busy();
 *       k.stream("stdout", "hi\n");
 *       k.reply({ status: "ok", execution_count: k.count });
 *       k.idle();
 *     }),
 *   );
 *
 * Like a kernel, it handles shell requests one at a time (a script that never returns holds the
 * ones after it), control requests at once. kernel_info is answered by default, with busy/idle on
 * iopub so the client's slow-joiner handshake completes; so are shutdown and interrupt_request.
 * The LaunchedKernel it gives: kill("SIGINT") interrupts the running script (k.interrupted),
 * kill("SIGKILL"/"SIGTERM") or k.die() ends the "process": `exited` resolves and the sockets
 * close. Everything here runs on real timers, captured at import, so tests may fake the clock.
 * The client's side does not: its handshake retries kernel_info after a 50 ms pause on the global
 * clock, so a kernel started on a fake clock whose first iopub messages are lost (`loseFirstIopub`)
 * stalls; answer kernel_info with a few extra idles on real time (see test/support/warm-harness.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import { KernelClient, type AttachOptions, type StartOptions } from "../../src/kernel/client.js";
import { endpoint, newConnection } from "../../src/kernel/connection.js";
import type { KernelSpec } from "../../src/kernel/kernelspec.js";
import {
  requestContentSchemas,
  type Envelope,
  type Header,
  type JsonObject,
  type ParentHeader,
  type RequestType,
} from "../../src/kernel/messages.js";
import type { Channel, KernelExit, LaunchedKernel, ProcessExit } from "../../src/kernel/types.js";
import { WireCodec } from "../../src/kernel/wire.js";

// Captured before any test fakes the clock.
const realSetTimeout = globalThis.setTimeout;
const realSetImmediate = globalThis.setImmediate;

export interface FakeKernelOptions {
  /** Kernelspec fields; argv[0] named `deno` makes the client expect late iopub (its barrier). */
  spec?: Partial<KernelSpec>;
  /** Drop the first N iopub messages, as a slow-joining subscriber loses them. */
  loseFirstIopub?: number;
}

export type Script<C> = (k: C) => void | Promise<void>;
export type ExecuteScript = (code: string, k: ExecuteContext) => void | Promise<void>;

/** A request the fake received; `problem` names what nbhook got wrong in it, if anything. */
export interface ReceivedRequest {
  channel: Channel;
  msgType: string;
  content: unknown;
  problem?: string;
}

export function fakeKernelSpec(overrides: Partial<KernelSpec> = {}): KernelSpec {
  return {
    name: "fake",
    argv: ["fake-kernel", "{connection_file}"],
    displayName: "Fake kernel",
    language: "python",
    env: {},
    interruptMode: "signal",
    resourceDir: "(test/support/fake-kernel.ts)",
    ...overrides,
  };
}

let nextPid = 0;

export class FakeKernel {
  readonly requests: ReceivedRequest[] = [];
  /** Signals sent through launched.kill(), in order. */
  readonly signals: NodeJS.Signals[] = [];
  readonly launched: LaunchedKernel;
  readonly codec: WireCodec;
  /** Text for the client's error reports (what the kernel "wrote to stderr"). */
  stderr = "";
  private executeScript: ExecuteScript = (_code, k) => k.ok();
  private kernelInfoScript: Script<RequestContext> = (k) => {
    k.busy();
    k.reply({
      status: "ok",
      protocol_version: "5.3",
      implementation: "fake",
      language_info: { name: "python" },
    });
    k.idle();
  };
  private shutdownScript: Script<RequestContext> = (k) => {
    k.reply({ status: "ok", restart: false });
    realSetImmediate(() => k.die({ code: 0 }));
  };
  private count = 0;
  private running: ExecuteContext | undefined;
  private shellQueue: Promise<void> = Promise.resolve();
  private readonly sendQueues = new Map<zmq.Socket, Promise<void>>();
  private lostIopub = 0;
  private dead = false;
  private markExited!: (exit: KernelExit) => void;
  private readonly waiters: { msgType: string; count: number; resolve: (r: ReceivedRequest) => void }[] = [];

  private constructor(
    readonly spec: KernelSpec,
    readonly dir: string,
    private readonly options: FakeKernelOptions,
    private readonly sockets: {
      shell: zmq.Router;
      control: zmq.Router;
      stdin: zmq.Router;
      iopub: zmq.Publisher;
      hb: zmq.Reply;
    },
  ) {
    const connection = newConnection(spec.name, { ipcDir: dir });
    this.codec = new WireCodec(connection.key);
    const exited = new Promise<KernelExit>((resolve) => (this.markExited = resolve));
    this.launched = {
      pid: 2 ** 30 + ++nextPid, // above any pid_max: never a real process
      startedBy: "spawn",
      connection,
      dir,
      exited,
      kill: (signal) => this.signal(signal),
      outputTail: () => this.stderr,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }

  static async create(options: FakeKernelOptions = {}): Promise<FakeKernel> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "nbhook-fake-"));
    const sockets = {
      shell: new zmq.Router({ linger: 0 }),
      control: new zmq.Router({ linger: 0 }),
      stdin: new zmq.Router({ linger: 0 }),
      iopub: new zmq.Publisher({ linger: 0 }),
      hb: new zmq.Reply({ linger: 0 }),
    };
    const fake = new FakeKernel(fakeKernelSpec(options.spec), dir, options, sockets);
    const info = fake.launched.connection;
    await Promise.all(
      Object.entries(sockets).map(([name, socket]) => socket.bind(endpoint(info, channelName(name)))),
    );
    fake.serve();
    return fake;
  }

  /** Scripts each execute_request (default: busy, execute_input, ok reply, idle). */
  onExecute(script: ExecuteScript): this {
    this.executeScript = script;
    return this;
  }

  onKernelInfo(script: Script<RequestContext>): this {
    this.kernelInfoScript = script;
    return this;
  }

  onShutdown(script: Script<RequestContext>): this {
    this.shutdownScript = script;
    return this;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Sockets of the fake still open (0 once it died). */
  get openSockets(): number {
    return Object.values(this.sockets).filter((s) => !s.closed).length;
  }

  /** Resolves once `count` requests of `msgType` have arrived (counting those already in). */
  waitFor(msgType: RequestType, count = 1): Promise<ReceivedRequest> {
    const seen = this.requests.filter((r) => r.msgType === msgType);
    if (seen.length >= count) return Promise.resolve(seen[count - 1]!);
    return new Promise((resolve) => this.waiters.push({ msgType, count, resolve }));
  }

  /** The "process" ends: sockets close and `exited` resolves. */
  die(exit: Partial<ProcessExit> = {}): void {
    if (this.dead) return;
    this.dead = true;
    for (const socket of Object.values(this.sockets)) socket.close();
    this.markExited({ code: exit.code ?? null, signal: exit.signal ?? null });
  }

  /** Ends the fake if it is still "running" and removes its folder. */
  async close(): Promise<void> {
    this.die({ signal: "SIGKILL" });
    await this.launched.cleanup();
  }

  /**
   * Queues frames on a socket: they go out in call order on each socket, and sockets are served
   * in call order too, though what reaches the client first across two sockets is up to the OS.
   */
  sendFrames(channel: Channel, frames: Buffer[]): Promise<void> {
    if (this.dead) return Promise.resolve();
    if (channel === "iopub" && this.lostIopub < (this.options.loseFirstIopub ?? 0)) {
      this.lostIopub++;
      return Promise.resolve();
    }
    const socket = this.sockets[channel];
    const queued = (this.sendQueues.get(socket) ?? Promise.resolve())
      .then(() => (this.dead ? undefined : socket.send(frames)))
      .catch(() => {}); // closed while queued: the "process" is gone
    this.sendQueues.set(socket, queued);
    return queued;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.dead) return;
    this.signals.push(signal);
    if (signal === "SIGINT") this.running?.interrupt();
    else this.die({ signal });
  }

  private serve(): void {
    for (const channel of ["shell", "control", "stdin"] as const) {
      void this.loop(this.sockets[channel], (frames) => this.onRequest(channel, frames));
    }
    void this.loop(this.sockets.hb, (frames) => this.sockets.hb.send(frames));
  }

  private async loop(socket: zmq.Router | zmq.Reply, handle: (frames: Buffer[]) => unknown): Promise<void> {
    try {
      for await (const frames of socket) await handle(frames);
    } catch {
      // closed by die()
    }
  }

  private onRequest(channel: Channel, frames: Buffer[]): void {
    const envelope = this.codec.unpack(frames);
    if (envelope instanceof Error) {
      this.requests.push({ channel, msgType: "?", content: undefined, problem: envelope.message });
      return;
    }
    const msgType = envelope.header.msg_type;
    const received: ReceivedRequest = { channel, msgType, content: envelope.content };
    const parsed = isRequestType(msgType)
      ? requestContentSchemas[msgType].safeParse(envelope.content)
      : undefined;
    if (!parsed) received.problem = `a request type the fake does not know`;
    else if (!parsed.success) received.problem = parsed.error.message;
    this.requests.push(received);
    for (const w of this.waiters.filter((w) => w.msgType === msgType)) {
      if (this.requests.filter((r) => r.msgType === msgType).length >= w.count) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(received);
      }
    }
    if (channel === "control") return void this.control(envelope);
    if (channel === "shell") this.shellQueue = this.shellQueue.then(() => this.shell(envelope));
  }

  private async shell(request: Envelope): Promise<void> {
    if (this.dead) return;
    const type = request.header.msg_type;
    if (type === "kernel_info_request") {
      return this.run(this.kernelInfoScript, new RequestContext(this, "shell", request));
    }
    if (type !== "execute_request") return;
    const content = requestContentSchemas.execute_request.safeParse(request.content);
    const code = content.success ? content.data.code : "";
    if (!content.success || content.data.store_history) this.count++;
    const k = new ExecuteContext(this, "shell", request, this.count);
    this.running = k;
    try {
      await this.run((ctx) => this.executeScript(code, ctx), k);
    } finally {
      if (this.running === k) this.running = undefined;
    }
  }

  private async control(request: Envelope): Promise<void> {
    const k = new RequestContext(this, "control", request);
    if (request.header.msg_type === "shutdown_request") return this.run(this.shutdownScript, k);
    if (request.header.msg_type === "interrupt_request") {
      this.running?.interrupt();
      k.reply({ status: "ok" });
    }
  }

  private async run<C extends RequestContext>(script: Script<C>, k: C): Promise<void> {
    try {
      await script(k);
    } catch (err) {
      this.requests.push({
        channel: "shell",
        msgType: k.header.msg_type,
        content: undefined,
        problem: `script threw: ${err}`,
      });
    }
  }

  /** A header for a message the fake sends. */
  header(msgType: string): Header {
    return { ...this.codec.header(msgType), username: "fake-kernel" };
  }
}

export interface SendOptions {
  /** Sign with the wrong key: the client must drop the message (and record it). */
  badSignature?: boolean;
  /** The parent header (default: the request's; `{}` for none). */
  parent?: ParentHeader;
  metadata?: JsonObject;
}

/** What a script can do while it handles one request. */
export class RequestContext {
  constructor(
    protected readonly fake: FakeKernel,
    readonly channel: "shell" | "control",
    readonly request: Envelope,
  ) {}

  get header(): Header {
    return this.request.header;
  }

  /** Publishes any message on iopub; `content` is sent as it is, valid or not. */
  publish(msgType: string, content: unknown, options: SendOptions = {}): Promise<void> {
    const frames = this.encode(msgType, content, options);
    return this.fake.sendFrames("iopub", [Buffer.from(`kernel.fake.${msgType}`), ...frames]);
  }

  busy(): Promise<void> {
    return this.publish("status", { execution_state: "busy" });
  }

  idle(): Promise<void> {
    return this.publish("status", { execution_state: "idle" });
  }

  /** Answers the request on its channel, as `<type>_reply`; `content` is sent as it is. */
  reply(content: Record<string, unknown>, options: SendOptions = {}): Promise<void> {
    const msgType = this.header.msg_type.replace(/_request$/, "_reply");
    return this.fake.sendFrames(this.channel, [
      ...this.request.identities,
      ...this.encode(msgType, content, options),
    ]);
  }

  /** Sends a message on stdin to the client (same routing id as its shell socket). */
  sendStdin(msgType: string, content: unknown, options: SendOptions = {}): Promise<void> {
    return this.fake.sendFrames("stdin", [
      ...this.request.identities,
      ...this.encode(msgType, content, options),
    ]);
  }

  /** A real-time pause (not affected by fake clocks). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => realSetTimeout(resolve, ms));
  }

  /** The kernel process dies now, e.g. `k.die({ code: 3 })` or `k.die({ signal: "SIGSEGV" })`. */
  die(exit: Partial<ProcessExit> = {}): void {
    this.fake.die(exit);
  }

  private encode(msgType: string, content: unknown, options: SendOptions): Buffer[] {
    const codec = options.badSignature ? new WireCodec("not-the-connection-key") : this.fake.codec;
    return codec.encode(
      this.fake.header(msgType),
      content,
      options.parent ?? this.header,
      options.metadata ?? {},
    );
  }
}

/** What a script can do while it runs one execute_request. */
export class ExecuteContext extends RequestContext {
  /** Resolves when the cell is interrupted (SIGINT to the "process", or an interrupt_request). */
  readonly interrupted: Promise<void>;
  private onInterrupt!: () => void;

  constructor(
    fake: FakeKernel,
    channel: "shell" | "control",
    request: Envelope,
    /** This execute's execution count. */
    readonly count: number,
  ) {
    super(fake, channel, request);
    this.interrupted = new Promise((resolve) => (this.onInterrupt = resolve));
  }

  interrupt(): void {
    this.onInterrupt();
  }

  executeInput(code = ""): Promise<void> {
    return this.publish("execute_input", { code, execution_count: this.count });
  }

  stream(name: "stdout" | "stderr", text: string): Promise<void> {
    return this.publish("stream", { name, text });
  }

  display(data: JsonObject, options: { metadata?: JsonObject; displayId?: string } = {}): Promise<void> {
    const transient = options.displayId ? { display_id: options.displayId } : {};
    return this.publish("display_data", { data, metadata: options.metadata ?? {}, transient });
  }

  updateDisplay(displayId: string, data: JsonObject, metadata: JsonObject = {}): Promise<void> {
    return this.publish("update_display_data", { data, metadata, transient: { display_id: displayId } });
  }

  result(data: JsonObject, metadata: JsonObject = {}): Promise<void> {
    return this.publish("execute_result", { data, metadata, execution_count: this.count });
  }

  error(ename: string, evalue: string, traceback: string[] = [`${ename}: ${evalue}`]): Promise<void> {
    return this.publish("error", { ename, evalue, traceback });
  }

  clearOutput(wait = false): Promise<void> {
    return this.publish("clear_output", { wait });
  }

  inputRequest(prompt = ""): Promise<void> {
    return this.sendStdin("input_request", { prompt, password: false });
  }

  /** What a plain successful cell sends: busy, execute_input, reply ok, idle. */
  ok(): Promise<void> {
    void this.busy();
    void this.executeInput();
    void this.reply({ status: "ok", execution_count: this.count, user_expressions: {}, payload: [] });
    return this.idle();
  }

  /** What a cell that raises sends (after its busy and any output): the error output, the error reply, idle. */
  raise(ename: string, evalue: string, traceback = [`${ename}: ${evalue}`]): Promise<void> {
    void this.error(ename, evalue, traceback);
    void this.reply({ status: "error", execution_count: this.count, ename, evalue, traceback });
    return this.idle();
  }

  /** What ipykernel sends for an interrupted cell: the KeyboardInterrupt error, its reply, idle. */
  keyboardInterrupt(): Promise<void> {
    const ename = "KeyboardInterrupt";
    void this.error(ename, "");
    void this.reply({ status: "error", execution_count: this.count, ename, evalue: "", traceback: [ename] });
    return this.idle();
  }

  /** A cell that never ends by itself (await it to hold the shell queue, like a busy kernel). */
  hang(): Promise<never> {
    return new Promise(() => {});
  }
}

function isRequestType(msgType: string): msgType is RequestType {
  return Object.hasOwn(requestContentSchemas, msgType);
}

function channelName(name: string): Channel | "hb" {
  if (name === "shell" || name === "control" || name === "stdin" || name === "iopub" || name === "hb")
    return name;
  throw new Error(`not a channel: ${name}`);
}

/** A started KernelClient attached to a fresh fake kernel; close both with `fake.close()`. */
export async function startFakeKernel(
  setup: (fake: FakeKernel) => void = () => {},
  options: FakeKernelOptions & AttachOptions = {},
): Promise<{ kernel: KernelClient; fake: FakeKernel }> {
  const fake = await FakeKernel.create(options);
  setup(fake);
  const kernel = await KernelClient.attach(fake.spec, fake.launched, options);
  return { kernel, fake };
}

/**
 * A `start` for KernelPool({ start }) and the warm modes: each call attaches a new fake kernel for
 * the spec asked for, scripted by `setup`. `closeAll()` ends every fake it made.
 */
export function fakeKernelStarter(setup: (fake: FakeKernel) => void = () => {}) {
  const fakes: FakeKernel[] = [];
  /** What each start was asked for (cwd, env, …), in order. */
  const starts: { spec: KernelSpec; options: StartOptions }[] = [];
  return {
    fakes,
    starts,
    start: async (spec: KernelSpec, options: StartOptions = {}): Promise<KernelClient> => {
      starts.push({ spec, options });
      const fake = await FakeKernel.create({ spec });
      fakes.push(fake);
      setup(fake);
      return KernelClient.attach(spec, fake.launched, options);
    },
    closeAll: () => Promise.all(fakes.map((f) => f.close())).then(() => {}),
  };
}
