/**
 * The requests in flight on one kernel connection, and how incoming messages complete them:
 * messages are matched to a request by `parent_header.msg_id`; a request is answered by its
 * reply type only, and one made with an output handler (an execute) also waits for its iopub
 * `status: idle`, in either order. Replies on control do not wait for idle.
 */
import { AppError } from "../errors.js";
import {
  isIopubOutput,
  isMessageOf,
  REPLY_TYPES,
  type IopubOutput,
  type KernelMessage,
  type MessageOf,
  type ReplyOf,
  type ReplyType,
  type RequestHeader,
  type RequestType,
} from "./messages.js";
import type { Channel } from "./types.js";

type Reply = MessageOf<ReplyType>;

/** What the connection learns about one request while it runs. */
export interface RequestState {
  /** Set when the kernel asked for stdin during the request (see InFlightHooks.onInputRequest). */
  inputRequested: boolean;
}

interface Pending extends RequestState {
  replyType: ReplyType;
  reply?: Reply;
  idle: boolean;
  onIopub?: (msg: IopubOutput) => void;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

export interface InFlightHooks {
  /** The kernel asked for input during a request: nobody can type, so it must be interrupted. */
  onInputRequest(): void;
  onProtocolError(channel: Channel, err: Error): void;
}

export class InFlightRequests {
  private readonly pending = new Map<string, Pending>();
  /** Output handlers of finished executes that may still receive late iopub messages. */
  private readonly lingering = new Map<string, (msg: IopubOutput) => void>();

  constructor(private readonly hooks: InFlightHooks) {}

  /**
   * Registers a request before it is sent (a fast reply must never arrive before anyone waits
   * for it). Requests made with `onIopub` also wait for their iopub idle and get their outputs.
   */
  register<T extends RequestType>(
    header: RequestHeader<T>,
    onIopub?: (msg: IopubOutput) => void,
  ): { done: Promise<ReplyOf<T>>; state: RequestState } {
    const replyType = REPLY_TYPES[header.msg_type];
    let pending!: Pending;
    const done = new Promise<ReplyOf<T>>((resolve, reject) => {
      pending = {
        replyType,
        idle: false,
        onIopub,
        inputRequested: false,
        // receive() lets only `replyType` through; the check is what tells TypeScript so.
        resolve: (reply) =>
          isMessageOf(reply, replyType)
            ? resolve(reply)
            : reject(new AppError("protocol", `a ${reply.msg_type} answered a ${header.msg_type}`)),
        reject,
      };
    });
    // Marked handled at once: it may fail (the kernel died) while the caller is still sending.
    done.catch(() => {});
    this.pending.set(header.msg_id, pending);
    return { done, state: pending };
  }

  /** Requests waiting for their reply or idle. */
  get size(): number {
    return this.pending.size;
  }

  /** Fails one request (its timeout, a failed send); false when it was over already. */
  fail(msgId: string, err: Error): boolean {
    const req = this.pending.get(msgId);
    if (!req) return false;
    this.pending.delete(msgId);
    req.reject(err);
    return true;
  }

  failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.fail(id, err);
  }

  /** Fails the request whose reply of type `msgType` came with invalid content, if one waits for it. */
  failReply(parentId: string | undefined, msgType: string, err: Error): void {
    if (parentId && this.pending.get(parentId)?.replyType === msgType) this.fail(parentId, err);
  }

  /** Delivers late outputs of a finished request to `onIopub` until the returned function is called. */
  linger(msgId: string, onIopub: (msg: IopubOutput) => void): () => void {
    this.lingering.set(msgId, onIopub);
    return () => this.lingering.delete(msgId);
  }

  receive(channel: Channel, msg: KernelMessage): void {
    const parentId = msg.parent_header.msg_id;
    if (!parentId) return;
    const req = this.pending.get(parentId);
    if (!req) {
      const late = channel === "iopub" ? this.lingering.get(parentId) : undefined;
      if (late && isIopubOutput(msg)) late(msg);
      return;
    }
    switch (msg.msg_type) {
      case "status":
        if (channel !== "iopub" || msg.content.execution_state !== "idle") return;
        req.idle = true;
        break;
      case "execute_input":
        return;
      case "stream":
      case "display_data":
      case "execute_result":
      case "update_display_data":
      case "error":
      case "clear_output":
        if (channel === "iopub") req.onIopub?.(msg);
        return;
      case "input_request":
        if (channel !== "stdin" || req.inputRequested) return;
        req.inputRequested = true;
        this.hooks.onInputRequest();
        return;
      case "execute_reply":
      case "kernel_info_reply":
      case "shutdown_reply":
      case "interrupt_reply":
        if (channel !== "shell" && channel !== "control") return;
        if (msg.msg_type !== req.replyType) {
          const err = new Error(`a ${msg.msg_type} answered a request for a ${req.replyType} (ignored)`);
          return this.hooks.onProtocolError(channel, err);
        }
        req.reply = msg;
        break;
    }
    if (req.reply && (req.idle || channel === "control" || !req.onIopub)) {
      this.pending.delete(parentId);
      req.resolve(req.reply);
    }
  }
}
