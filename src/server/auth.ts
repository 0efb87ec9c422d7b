/**
 * @module Who may use /api, /openapi.json and /docs (docs/dashboard.md, "Security"):
 * - the API token as `Authorization: Bearer …` (CLI, SDK, scripts);
 * - a webhook's own token, for polling the runs of its asynchronous calls (run-auth.ts);
 * - a dashboard session: after `POST /api/session` with the API token, an HttpOnly, SameSite=Strict
 *   cookie signed with a key derived from the API token. A request the cookie authenticates that
 *   changes something (any method but GET/HEAD/OPTIONS) must also carry the session's CSRF token in
 *   `X-CSRF-Token`, and an `Origin`, when the browser sends one, must be this server's.
 *
 * Sessions are a signed value (id and expiry): every node of a cluster reads the same cookie, and
 * changing the API token ends them all. Signing out revokes the id in the store (until the session
 * would have expired), so every node and a restarted server refuse it; the browser drops the cookie.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";
import type { Store } from "../store/index.js";
import { isAuthorized } from "./api-token.js";
import { isRunPollAuthorized } from "./run-auth.js";

export const SESSION_COOKIE = "nbhook_session";
export const CSRF_HEADER = "x-csrf-token";
/** How long a dashboard sign-in lasts. */
export const SESSION_TTL_S = 12 * 3600;

export interface Session {
  id: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  csrfToken: string;
}

/** How a request proved who it is. */
export type Authentication =
  { via: "bearer" } | { via: "webhook-token" } | { via: "session"; session: Session };

export class Sessions {
  /** Signs the cookie (through @fastify/cookie) and derives CSRF tokens; never the API token itself. */
  readonly key: Buffer;

  constructor(
    apiToken: string,
    private readonly store: Pick<Store, "revokeSession" | "isSessionRevoked">,
  ) {
    this.key = createHmac("sha256", apiToken).update("nbhook dashboard session v1").digest();
  }

  create(nowMs = Date.now()): { session: Session; value: string } {
    const id = randomBytes(18).toString("base64url");
    const expiresAt = Math.floor(nowMs / 1000) + SESSION_TTL_S;
    return { session: { id, expiresAt, csrfToken: this.csrfOf(id) }, value: `${id}.${expiresAt}` };
  }

  /** The session an unsigned cookie value names, unless it expired or was signed out. */
  async read(value: string, nowMs = Date.now()): Promise<Session | undefined> {
    const match = /^([A-Za-z0-9_-]{16,64})\.(\d{1,12})$/.exec(value);
    if (!match) return undefined;
    const id = match[1]!;
    const expiresAt = Number(match[2]);
    if (expiresAt * 1000 <= nowMs || (await this.store.isSessionRevoked(id))) return undefined;
    return { id, expiresAt, csrfToken: this.csrfOf(id) };
  }

  /** Whether a session read earlier still holds (a stream opened with it ends when it does not). */
  async isLive(session: Session, nowMs = Date.now()): Promise<boolean> {
    return session.expiresAt * 1000 > nowMs && !(await this.store.isSessionRevoked(session.id));
  }

  async revoke(session: Session): Promise<void> {
    await this.store.revokeSession(session.id, new Date(session.expiresAt * 1000).toISOString());
  }

  private csrfOf(id: string): string {
    return createHmac("sha256", this.key).update(`csrf.${id}`).digest("base64url");
  }
}

/** Routes that need a token or a session (the trigger, /healthz, /readyz and the dashboard's pages do not). */
export function isProtectedRoute(route: string): boolean {
  return (
    route === "/api" ||
    route === "/metrics" ||
    route.startsWith("/api/") ||
    route === "/openapi.json" ||
    route === "/docs" ||
    route.startsWith("/docs/")
  );
}

/** Signing in is how a browser gets a session: the one /api route open to everyone. */
const OPEN_ROUTES = new Set(["POST /api/session"]);

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const authentications = new WeakMap<FastifyRequest, Authentication>();

/** How the request was let in (set by the hook of registerAuth). */
export function authenticationOf(request: FastifyRequest): Authentication | undefined {
  return authentications.get(request);
}

export interface AuthDeps {
  apiToken: string;
  store: Store;
  sessions: Sessions;
  /** `--base-url`: behind a proxy, pages come from its origin while `Host` is the proxy's upstream. */
  baseUrl?: string;
}

/** The cookie parser, and the hook that lets a request reach a protected route or answers 401/403. */
export async function registerAuth(app: FastifyInstance, deps: AuthDeps): Promise<void> {
  await app.register(cookie, { secret: deps.sessions.key });
  app.addHook("onRequest", async (request, reply) => {
    // The matched route decides, not the raw URL: /%61pi/webhooks routes to /api/webhooks.
    const route = request.routeOptions.url ?? request.url.split("?")[0]!;
    if (!isProtectedRoute(route) || OPEN_ROUTES.has(`${request.method} ${route}`)) return;
    const found = await authenticate(request, deps);
    if (found) {
      authentications.set(request, found);
      return;
    }
    if (request.method === "GET" && route.startsWith("/docs") && wantsHtml(request)) {
      // A person opening the API docs: sign in first, then come back.
      return reply.redirect(`/signin?next=${encodeURIComponent(request.url)}`, 303);
    }
    throw new AppError(
      "unauthorized",
      "missing or wrong API token: send `Authorization: Bearer <token>`; the token is in <home>/api-token " +
        "(printed by `nbhook serve`), or set NBHOOK_TOKEN; in a browser, sign in at /signin",
    );
  });
}

async function authenticate(request: FastifyRequest, deps: AuthDeps): Promise<Authentication | undefined> {
  const header = request.headers.authorization;
  if (isAuthorized(header, deps.apiToken)) return { via: "bearer" };
  // GET /api/runs/{id}[/response] also take the run's webhook token (docs/api.md, "Asynchronous calls").
  if (header && (await isRunPollAuthorized(request, deps.store))) return { via: "webhook-token" };
  if (header) return undefined; // a wrong bearer is refused, even with a cookie
  const session = await sessionOf(request, deps.sessions);
  if (!session) return undefined;
  if (!SAFE_METHODS.has(request.method)) checkCsrf(request, session, deps.baseUrl);
  return { via: "session", session };
}

/** The request's valid session cookie, if any. */
export async function sessionOf(request: FastifyRequest, sessions: Sessions): Promise<Session | undefined> {
  const raw = request.cookies[SESSION_COOKIE];
  if (!raw) return undefined;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && unsigned.value !== null ? sessions.read(unsigned.value) : undefined;
}

/** A change made with the cookie: the session's CSRF token, and the page's own origin. */
function checkCsrf(request: FastifyRequest, session: Session, baseUrl: string | undefined): void {
  const origin = request.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, request.headers.host) && !isOriginOf(origin, baseUrl)) {
    throw new AppError(
      "forbidden",
      `requests signed in with the dashboard's cookie must come from its own pages (Origin ${origin})`,
    );
  }
  const given = request.headers[CSRF_HEADER];
  if (typeof given !== "string" || !equalText(given, session.csrfToken)) {
    throw new AppError(
      "forbidden",
      "a change made with the dashboard's session cookie needs the X-CSRF-Token header " +
        "(`csrf_token` from GET /api/session); scripts send `Authorization: Bearer <token>` instead",
    );
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function isOriginOf(origin: string, baseUrl: string | undefined): boolean {
  try {
    return baseUrl !== undefined && new URL(baseUrl).origin === origin;
  } catch {
    return false;
  }
}

function equalText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function wantsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? "").includes("text/html");
}

/** Sets the session cookie on a sign-in answer. */
export function setSessionCookie(reply: FastifyReply, value: string, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, value, {
    signed: true,
    httpOnly: true,
    sameSite: "strict",
    secure,
    path: "/",
    maxAge: SESSION_TTL_S,
  });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "strict", secure, path: "/" });
}
