/**
 * Dashboard sign-in (docs/dashboard.md): `POST /api/session` with any API token sets the session
 * cookie (limited like the token: its scope, its webhooks; failures count towards the address's
 * limit, rate-limit.ts), `GET /api/session` says who is signed in (and gives the CSRF token pages send with their
 * changes), `DELETE /api/session` signs out.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { sessionSchema, type SessionJson } from "../../api/session-schemas.js";
import { AppError } from "../../errors.js";
import type { ApiToken } from "../../store/index.js";
import {
  authenticationOf,
  clearSessionCookie,
  setSessionCookie,
  sessionOf,
  tokenOf,
  tooManyFailures,
  type Sessions,
} from "../auth.js";
import type { FailureLimiter } from "../rate-limit.js";
import type { ApiTokens } from "../tokens.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import type { ServerDeps } from "../types.js";

const signInBody = z.object({
  token: z
    .string({
      error: "must be an API token (the first admin token is in <home>/api-token on the server's machine)",
    })
    .min(1),
});

export async function registerSessionRoutes(
  app: FastifyInstance,
  deps: ServerDeps,
  auth: { sessions: Sessions; tokens: ApiTokens; limiter: FailureLimiter },
): Promise<void> {
  const { sessions, tokens, limiter } = auth;
  // Secure cookies when the public address is https (behind a TLS proxy the request itself is http).
  const secure = (request: FastifyRequest) =>
    request.protocol === "https" || (deps.config.baseUrl ?? "").startsWith("https:");

  app.post(
    "/api/session",
    {
      schema: routeSchema({
        summary: "Sign in to the dashboard",
        description:
          "Exchanges an API token for a session cookie (`nbhook_session`: HttpOnly, SameSite=Strict, 12 hours) " +
          "that may do what the token may (its scope, its webhooks) and ends when the token is revoked. " +
          "Changes made with the cookie must send `csrf_token` as `X-CSRF-Token`. The one /api route open to all; " +
          "too many wrong tokens from one address are answered 429 for a while.",
        tags: ["session"],
        body: signInBody,
        responses: { 201: sessionSchema },
        errors: [400, 401, 429],
        open: true,
      }),
    },
    async (request, reply) => {
      const wait = limiter.retryAfterS(request.ip);
      if (wait !== undefined) throw tooManyFailures(wait);
      const { token } = parseRequest(signInBody, request.body);
      const found = await tokens.verify(token.trim());
      if (!found) {
        limiter.fail(request.ip);
        request.log.warn({ ip: request.ip }, "dashboard sign-in refused: wrong token");
        throw new AppError(
          "unauthorized",
          "that is not the API token, nor any other live one: the first admin token is in <home>/api-token on " +
            "the server's machine; an admin makes others with `nbhook tokens create NAME --scope read|deploy|admin` " +
            "(a revoked token no longer signs in)",
        );
      }
      const { session, value } = sessions.create(found);
      setSessionCookie(reply, value, secure(request));
      return reply.status(201).send(sessionJson(session, found));
    },
  );

  app.get(
    "/api/session",
    {
      schema: routeSchema({
        summary: "Who is signed in",
        description:
          "With the session cookie: its CSRF token and expiry. With a bearer token: `via: bearer`. Either way, " +
          "`token`: the name, scope and webhook limit of the token (the dashboard offers only what it allows).",
        tags: ["session"],
        responses: { 200: sessionSchema },
      }),
    },
    async (request) => {
      const found = authenticationOf(request);
      if (found?.via === "session") return sessionJson(found.session, found.token);
      const token = tokenOf(request);
      return {
        signed_in: true,
        via: "bearer",
        ...(token && { token: tokenSummary(token) }),
      } satisfies SessionJson;
    },
  );

  app.delete(
    "/api/session",
    {
      config: { scope: "read" }, // any token may end its own session
      schema: routeSchema({
        summary: "Sign out",
        description: "Ends the session and clears its cookie (with the cookie: send `X-CSRF-Token`).",
        tags: ["session"],
        responses: { 200: sessionSchema },
        errors: [403],
      }),
    },
    async (request, reply: FastifyReply) => {
      const session = await sessionOf(request, sessions);
      if (session) await sessions.revoke(session);
      clearSessionCookie(reply, secure(request));
      return { signed_in: false } satisfies SessionJson;
    },
  );
}

function tokenSummary(token: ApiToken): NonNullable<SessionJson["token"]> {
  return { name: token.name, scope: token.scope, webhooks: token.webhookIds };
}

function sessionJson(session: { expiresAt: number; csrfToken: string }, token: ApiToken): SessionJson {
  return {
    signed_in: true,
    via: "session",
    csrf_token: session.csrfToken,
    expires_at: new Date(session.expiresAt * 1000).toISOString(),
    token: tokenSummary(token),
  };
}
