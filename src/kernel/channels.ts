/**
 * The ZeroMQ sockets of one kernel connection: shell, control, iopub, stdin (not for a kernel that
 * never uses it, see client.ts), and heartbeat for a ping. Each socket gets exactly one receive loop
 * (zeromq.js v6 allows one pending receive per socket); messages are decoded and verified
 * (wire.ts, which never throws) and handed to a single callback. A callback that throws is
 * reported and the loop goes on: one bad message never deafens a channel.
 */
import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { endpoint } from "./connection.js";
import type { RequestContent, RequestHeader, RequestType } from "./messages.js";
import type { Channel, ConnectionInfo } from "./types.js";
import type { Decoded, WireCodec } from "./wire.js";

/**
 * We connect before the kernel has bound its endpoints (an ipc socket file that does not exist
 * yet): libzmq then retries every `reconnectInterval`, 100 ms by default, which would add up to
 * 100 ms to a forked kernel's ~80 ms start. A failed ipc/tcp connect to localhost costs microseconds.
 */
const SOCKET_OPTIONS = { linger: 0, reconnectInterval: 10 };

/** How often a connect interrupted by a signal is tried again before its error stands. */
const INTERRUPTED_CONNECT_TRIES = 50;

/**
 * socket.connect(), again while it fails with EINTR. libzmq's zmq_connect first handles the
 * socket's pending commands, and a signal reaching the thread then (a profiler's SIGPROF, a
 * terminal's SIGWINCH) makes it return EINTR having done nothing; zeromq.js retries that for send,
 * receive and bind but not for connect (measured: 1 connect in ~800 under `node --cpu-prof`), and
 * the call failed with "Interrupted system call". Nothing else is retried.
 */
export function connectRetryingInterrupts(socket: { connect(address: string): void }, address: string): void {
  for (let tries = 1; ; tries++) {
    try {
      socket.connect(address);
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "EINTR" || tries >= INTERRUPTED_CONNECT_TRIES) throw err;
    }
  }
}

export type MessageHandler = (channel: Channel, decoded: Decoded) => void;

export class KernelChannels {
  private readonly shell: zmq.Dealer;
  private readonly control: zmq.Dealer;
  private readonly stdin: zmq.Dealer | undefined;
  private readonly iopub: zmq.Subscriber;
  private readonly hbEndpoint: string;
  private closed = false;
  /** iopub alone closed (closeIopub): the shutdown of an idle kernel. */
  private iopubClosed = false;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly codec: WireCodec,
    onMessage: MessageHandler,
    /** A receive loop that failed, or a callback that threw. */
    onError: (channel: Channel, err: unknown) => void,
    /** Whether to connect the stdin channel (not for a kernel that never asks, see client.ts). */
    options: { stdin?: boolean } = {},
  ) {
    // stdin must share the shell socket's routing id, or input_request is never routed to us.
    const routingId = `nbhook-${randomBytes(6).toString("hex")}`;
    this.shell = new zmq.Dealer({ ...SOCKET_OPTIONS, routingId });
    this.stdin = options.stdin === false ? undefined : new zmq.Dealer({ ...SOCKET_OPTIONS, routingId });
    this.control = new zmq.Dealer(SOCKET_OPTIONS);
    this.iopub = new zmq.Subscriber(SOCKET_OPTIONS);
    this.iopub.subscribe();
    try {
      connectRetryingInterrupts(this.shell, endpoint(info, "shell"));
      if (this.stdin) connectRetryingInterrupts(this.stdin, endpoint(info, "stdin"));
      connectRetryingInterrupts(this.control, endpoint(info, "control"));
      connectRetryingInterrupts(this.iopub, endpoint(info, "iopub"));
    } catch (err) {
      for (const socket of this.sockets()) socket.close();
      throw err;
    }
    this.hbEndpoint = endpoint(info, "hb");

    const sockets: [Channel, zmq.Dealer | zmq.Subscriber][] = [
      ["shell", this.shell],
      ["control", this.control],
      ...(this.stdin ? [["stdin", this.stdin] as [Channel, zmq.Dealer]] : []),
      ["iopub", this.iopub],
    ];
    for (const [channel, socket] of sockets) {
      void (async () => {
        try {
          for await (const frames of socket) {
            try {
              onMessage(channel, this.codec.decode(frames));
            } catch (err) {
              onError(channel, err);
            }
          }
        } catch (err) {
          if (!this.closed && !(channel === "iopub" && this.iopubClosed)) onError(channel, err);
        }
      })();
    }
  }

  /** A header for a new request; register interest in its msg_id before calling send(). */
  newHeader<T extends RequestType>(msgType: T): RequestHeader<T> {
    return this.codec.header(msgType);
  }

  /** Sends a request whose header came from newHeader(). */
  async send<T extends RequestType>(
    channel: "shell" | "control",
    header: RequestHeader<T>,
    content: RequestContent<T>,
  ) {
    const socket = channel === "shell" ? this.shell : this.control;
    await socket.send(this.codec.encode(header, content));
  }

  /** One heartbeat round trip; resolves false when no echo comes within `timeoutMs`. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    if (this.closed) return false;
    const req = new zmq.Request({ ...SOCKET_OPTIONS, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
    try {
      connectRetryingInterrupts(req, this.hbEndpoint);
      const payload = randomBytes(8);
      await req.send(payload);
      const [echo] = await req.receive();
      return echo !== undefined && echo.equals(payload);
    } catch {
      return false;
    } finally {
      req.close();
    }
  }

  /**
   * Stops reading iopub, the other channels staying open: what an idle kernel publishes while it
   * shuts down (busy, a copy of the shutdown_reply, idle) concerns nobody, and each message would
   * cost a verification and a parse.
   */
  closeIopub(): void {
    if (this.closed || this.iopubClosed) return;
    this.iopubClosed = true;
    this.iopub.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets()) socket.close();
  }

  private sockets(): (zmq.Dealer | zmq.Subscriber)[] {
    return [
      this.shell,
      this.control,
      ...(this.stdin ? [this.stdin] : []),
      ...(this.iopubClosed ? [] : [this.iopub]),
    ];
  }

  get connection(): ConnectionInfo {
    return this.info;
  }
}
