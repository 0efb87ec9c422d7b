/**
 * @module The JSON shapes of the dashboard's own API routes (docs/dashboard.md): its session, and
 * the live feed of runs. Beside schemas.ts for the same reason: the server builds these replies
 * and the SDK (in Node and in the browser) checks them.
 */
import { z } from "zod";
import { runSchema } from "./schemas.js";

/** `GET|POST|DELETE /api/session`. */
export const sessionSchema = z.object({
  signed_in: z.boolean(),
  /** How this request was let in: the session cookie, or a bearer token (no CSRF token then). */
  via: z.enum(["session", "bearer"]).optional(),
  /** Send it as `X-CSRF-Token` with every change made with the session cookie. */
  csrf_token: z.string().optional(),
  expires_at: z.string().optional(),
  /** The API token this request (or the session) came with: its name, scope and webhook limit. */
  token: z
    .object({
      name: z.string(),
      scope: z.enum(["read", "deploy", "admin"]),
      /** Ids of the webhooks it is limited to; empty: all. */
      webhooks: z.array(z.string()),
    })
    .optional(),
});
export type SessionJson = z.infer<typeof sessionSchema>;

/** `POST /api/session`. */
export const signInSchema = z.object({ token: z.string() });

/**
 * One message of `GET /api/runs/events` (Server-Sent Events, event name `run`): a run that was
 * queued, started or finished, as `GET /api/runs/{id}` shows it.
 */
export const runEventSchema = runSchema;
export type RunEventJson = z.infer<typeof runEventSchema>;
