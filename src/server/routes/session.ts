/**
 * Dashboard sign-in (docs/dashboard.md): `POST /api/session` with the API token sets the session
 * cookie, `GET /api/session` says who is signed in (and gives the CSRF token pages send with their
 * changes), `DELETE /api/session` signs out.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { sessionSchema, type SessionJson } from "../../api/session-schemas.js";
import { AppError } from "../../errors.js";
import { isAuthorized } from "../api-token.js";
import { authenticationOf, clearSessionCookie, setSessionCookie, sessionOf, type Sessions } from "../auth.js";
import { parseRequest } from "../http-errors.js";
import { routeSchema } from "../openapi.js";
import type { ServerDeps } from "../types.js";

const signInBody = z.object({
  token: z.string({ error: "must be the API token (in <home>/api-token on the server's machine)" }).min(1),
});

export async function registerSessionRoutes(
  app: FastifyInstance,
  deps: ServerDeps,
  sessions: Sessions,
): Promise<void> {
  // Secure cookies when the public address is https (behind a TLS proxy the request itself is http).
  const secure = (request: FastifyRequest) =>
    request.protocol === "https" || (deps.config.baseUrl ?? "").startsWith("https:");

  app.post(
    "/api/session",
    {
      schema: routeSchema({
        summary: "Sign in to the dashboard",
        description:
          "Exchanges the API token for a session cookie (`nbhook_session`: HttpOnly, SameSite=Strict, 12 hours). " +
          "Changes made with the cookie must send `csrf_token` as `X-CSRF-Token`. The one /api route open to all.",
        tags: ["session"],
        body: signInBody,
        responses: { 201: sessionSchema },
        errors: [400, 401],
        open: true,
      }),
    },
    async (request, reply) => {
      const { token } = parseRequest(signInBody, request.body);
      if (!isAuthorized(`Bearer ${token.trim()}`, deps.apiToken)) {
        request.log.warn({ ip: request.ip }, "dashboard sign-in refused: wrong token");
        throw new AppError(
          "unauthorized",
          "that is not the API token: it is in <home>/api-token on the server's machine (printed by `nbhook serve`)",
        );
      }
      const { session, value } = sessions.create();
      setSessionCookie(reply, value, secure(request));
      return reply.status(201).send(sessionJson(session));
    },
  );

  app.get(
    "/api/session",
    {
      schema: routeSchema({
        summary: "Who is signed in",
        description:
          "With the session cookie: its CSRF token and expiry. With a bearer token: `via: bearer`.",
        tags: ["session"],
        responses: { 200: sessionSchema },
      }),
    },
    async (request) => {
      const found = authenticationOf(request);
      if (found?.via === "session") return sessionJson(found.session);
      return { signed_in: true, via: "bearer" } satisfies SessionJson;
    },
  );

  app.delete(
    "/api/session",
    {
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

function sessionJson(session: { expiresAt: number; csrfToken: string }): SessionJson {
  return {
    signed_in: true,
    via: "session",
    csrf_token: session.csrfToken,
    expires_at: new Date(session.expiresAt * 1000).toISOString(),
  };
}
