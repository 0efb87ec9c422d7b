/**
 * Jupyter messaging protocol 5.3 message shapes, as far as nbhook uses them. Content of incoming
 * messages is validated where nbhook depends on a field (see wire.ts and client.ts); everything
 * else passes through as JSON.
 */
import { z } from "zod";

export const PROTOCOL_VERSION = "5.3";

export const headerSchema = z.object({
  msg_id: z.string(),
  msg_type: z.string(),
  session: z.string().optional().default(""),
  username: z.string().optional().default(""),
  date: z.string().optional(),
  version: z.string().optional(),
});

export type Header = z.infer<typeof headerSchema>;

export type Channel = "shell" | "control" | "stdin" | "iopub";

export interface Message<C = Record<string, unknown>> {
  header: Header;
  /** Empty object when there is no parent. */
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
  /** ZeroMQ identities before the delimiter (routing ids, or the iopub topic). */
  identities: Buffer[];
}

export const executeReplySchema = z.object({
  status: z.enum(["ok", "error", "abort", "aborted"]),
  execution_count: z.number().nullable().optional(),
  ename: z.string().optional(),
  evalue: z.string().optional(),
  traceback: z.array(z.string()).optional(),
});
export type ExecuteReply = z.infer<typeof executeReplySchema>;

export const statusSchema = z.object({ execution_state: z.string() });

export const kernelInfoReplySchema = z
  .object({
    protocol_version: z.string().optional(),
    implementation: z.string().optional(),
    language_info: z.object({ name: z.string() }).passthrough().optional(),
  })
  .passthrough();
export type KernelInfoReply = z.infer<typeof kernelInfoReplySchema>;

export const inputRequestSchema = z.object({ prompt: z.string().optional(), password: z.boolean().optional() });
