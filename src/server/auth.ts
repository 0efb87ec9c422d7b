/**
 * @module Who may use /api, /openapi.json and /docs, and what they may do there (docs/tokens.md,
 * docs/dashboard.md "Security"):
 * - an API token as `Authorization: Bearer …` (CLI, SDK, scripts), checked against the hashes in
 *   the store (tokens.ts);
 * - a webhook's own token, for polling the runs of its asynchronous calls (run-auth.ts);
 * - a dashboard session: after `POST /api/session` with any API token, an HttpOnly, SameSite=Strict
 *   cookie naming the session, the token it was opened with and that token's scope, signed with a
 *   server key kept in the store (random, made once, the same on every node of a cluster). A
 *   request the cookie authenticates that changes something (any method but GET/HEAD/OPTIONS) must
 *   also carry the session's CSRF token in `X-CSRF-Token`, and an `Origin`, when the browser sends
 *   one, must be this server's.
 *
 * Scopes: each route needs `read` (GET, HEAD), `deploy` (changes under /api/webhooks) or `admin`
 * (every other change), unless its `config: { scope }` says otherwise; a token of a smaller scope
 * gets 403 naming both. A token limited to some webhooks sees only those (others are 404, as if
 * they did not exist) and cannot create webhooks (403).
 *
 * Signing out revokes the session id in the store (until it would have expired); revoking the
 * token ends every session opened with it. Failed authentications are limited per client address
 * (rate-limit.ts).
 */
import path from "node:path";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";
import { TOKEN_SCOPES, type ApiToken, type Store, type TokenScope } from "../store/index.js";
import type { FailureLimiter } from "./rate-limit.js";
import { noRun, noWebhook } from "./routes/lookup.js";
import { isRunPollAuthorized } from "./run-auth.js";
import { scopeAllows, type ApiTokens } from "./tokens.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a token needs for this route, instead of the default rule (see the module). */
    scope?: TokenScope;
  }
}

export const SESSION_COOKIE = "nbhook_session";
export const CSRF_HEADER = "x-csrf-token";
/** How long a dashboard sign-in lasts. */
export const SESSION_TTL_S = 12 * 3600;
/** The store's name of the key that signs session cookies. */
export const SESSION_KEY_NAME = "dashboard-session-v2";

export interface Session {
  id: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  csrfToken: string;
  /** The API token the session was opened with (revoking it ends the session). */
  tokenId: string;
  scope: TokenScope;
}

/** How a request proved who it is. */
export type Authentication =
  | { via: "bearer"; token: ApiToken }
  | { via: "webhook-token" }
  | { via: "session"; session: Session; token: ApiToken };

const SESSION_VALUE = new RegExp(
  `^([A-Za-z0-9_-]{16,64})\\.(\\d{1,12})\\.([A-Za-z0-9-]{1,64})\\.(${TOKEN_SCOPES.join("|")})$`,
);

export class Sessions {
  private constructor(
    /** Signs the cookie (through @fastify/cookie) and derives CSRF tokens. */
    readonly key: Buffer,
    private readonly store: Pick<Store, "revokeSession" | "isSessionRevoked">,
    private readonly tokens: ApiTokens,
  ) {}

  /** With the store's session key (made now if the store has none). */
  static async open(store: Store, tokens: ApiTokens): Promise<Sessions> {
    const key = await store.serverKey(SESSION_KEY_NAME, randomBytes(32).toString("base64url"));
    return new Sessions(Buffer.from(key, "base64url"), store, tokens);
  }

  create(token: ApiToken, nowMs = Date.now()): { session: Session; value: string } {
    const id = randomBytes(18).toString("base64url");
    const expiresAt = Math.floor(nowMs / 1000) + SESSION_TTL_S;
    return {
      session: { id, expiresAt, csrfToken: this.csrfOf(id), tokenId: token.id, scope: token.scope },
      value: `${id}.${expiresAt}.${token.id}.${token.scope}`,
    };
  }

  /** The session an unsigned cookie value names and its token, unless it expired, was signed out or its token revoked. */
  async read(value: string, nowMs = Date.now()): Promise<{ session: Session; token: ApiToken } | undefined> {
    const match = SESSION_VALUE.exec(value);
    if (!match) return undefined;
    const session: Session = {
      id: match[1]!,
      expiresAt: Number(match[2]),
      csrfToken: this.csrfOf(match[1]!),
      tokenId: match[3]!,
      scope: match[4] as TokenScope,
    };
    if (session.expiresAt * 1000 <= nowMs || (await this.store.isSessionRevoked(session.id)))
      return undefined;
    const token = await this.tokens.live(session.tokenId, { touch: true });
    // A token record never changes scope (a changed NBHOOK_ADMIN_TOKEN is a new record): checked anyway.
    return token && token.scope === session.scope ? { session, token } : undefined;
  }

  /** Whether a session read earlier still holds (a stream opened with it ends when it does not). */
  async isLive(session: Session, nowMs = Date.now()): Promise<boolean> {
    return (
      session.expiresAt * 1000 > nowMs &&
      !(await this.store.isSessionRevoked(session.id)) &&
      (await this.tokens.live(session.tokenId)) !== undefined
    );
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

/**
 * The scope a route needs: its `config.scope` if it has one; else `read` to read (GET, HEAD),
 * `deploy` to change a webhook (anything under /api/webhooks), `admin` for every other change.
 */
export function requiredScope(method: string, route: string, override?: TokenScope): TokenScope {
  if (override) return override;
  if (SAFE_METHODS.has(method)) return "read";
  if (route === "/api/webhooks" || route.startsWith("/api/webhooks/")) return "deploy";
  return "admin";
}

const authentications = new WeakMap<FastifyRequest, Authentication>();

/** How the request was let in (set by the hook of registerAuth). */
export function authenticationOf(request: FastifyRequest): Authentication | undefined {
  return authentications.get(request);
}

/** The API token a request came with (bearer or session); undefined for a webhook token or an open route. */
export function tokenOf(request: FastifyRequest): ApiToken | undefined {
  const found = authentications.get(request);
  return found && found.via !== "webhook-token" ? found.token : undefined;
}

/**
 * For a token limited to some webhooks: which webhook ids the request may see (routes that list
 * filter with it). Undefined: no limit.
 */
export function webhookFilterOf(request: FastifyRequest): ((webhookId: string) => boolean) | undefined {
  const token = tokenOf(request);
  if (!token || token.webhookIds.length === 0) return undefined;
  const allowed = new Set(token.webhookIds);
  return (id) => allowed.has(id);
}

export interface AuthDeps {
  store: Store;
  sessions: Sessions;
  tokens: ApiTokens;
  /** Failed authentications per client address. */
  limiter: FailureLimiter;
  /** `--base-url`: behind a proxy, pages come from its origin while `Host` is the proxy's upstream. */
  baseUrl?: string;
}

/** The 429 of an address that failed too often. */
export function tooManyFailures(retryAfterS: number): AppError {
  return new AppError(
    "too-many-requests",
    `too many wrong tokens from this address: try again in ${retryAfterS} s, with a valid token ` +
      "(`nbhook tokens list` shows the live ones)",
    { retryAfterS },
  );
}

/** The cookie parser, and the hooks that let a request reach a protected route or answer 401/403/404/429. */
export async function registerAuth(app: FastifyInstance, deps: AuthDeps): Promise<void> {
  await app.register(cookie, { secret: deps.sessions.key });
  app.addHook("onRequest", async (request, reply) => {
    // The matched route decides, not the raw URL: /%61pi/webhooks routes to /api/webhooks.
    const route = request.routeOptions.url ?? request.url.split("?")[0]!;
    if (!isProtectedRoute(route) || OPEN_ROUTES.has(`${request.method} ${route}`)) return;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const wait = deps.limiter.retryAfterS(request.ip);
      if (wait !== undefined) throw tooManyFailures(wait);
    }
    const found = await authenticate(request, deps);
    if (found) {
      authentications.set(request, found);
      if (found.via !== "webhook-token") checkScope(request, route, found.token);
      return;
    }
    if (header !== undefined) {
      deps.limiter.fail(request.ip);
      // The address and the route, never what was sent.
      request.log.warn({ ip: request.ip, method: request.method, route }, "API request refused: wrong token");
    }
    if (request.method === "GET" && route.startsWith("/docs") && wantsHtml(request)) {
      // A person opening the API docs: sign in first, then come back.
      return reply.redirect(`/signin?next=${encodeURIComponent(request.url)}`, 303);
    }
    throw new AppError(
      "unauthorized",
      "missing or wrong API token: send `Authorization: Bearer <token>`; the first admin token is in " +
        "<home>/api-token on the server's machine (written once, at the first start), an admin makes " +
        "others with `nbhook tokens create`, or set NBHOOK_TOKEN; in a browser, sign in at /signin",
    );
  });
  // After the body is read: a token limited to some webhooks reaches only those.
  app.addHook("preHandler", async (request) => {
    const token = tokenOf(request);
    if (!token || token.webhookIds.length === 0) return;
    const route = request.routeOptions.url ?? request.url.split("?")[0]!;
    await checkWebhookLimit(request, route, token, deps.store);
  });
}

function checkScope(request: FastifyRequest, route: string, token: ApiToken): void {
  const need = requiredScope(request.method, route, request.routeOptions.config?.scope);
  if (scopeAllows(token.scope, need)) return;
  throw new AppError(
    "forbidden",
    `${request.method} ${route} needs a token of scope "${need}"; the token "${token.name}" has scope ` +
      `"${token.scope}": use a ${need} token (an admin makes one with \`nbhook tokens create NAME --scope ${need}\`)`,
  );
}

async function checkWebhookLimit(
  request: FastifyRequest,
  route: string,
  token: ApiToken,
  store: Store,
): Promise<void> {
  const allowed = new Set(token.webhookIds);
  const params = (request.params ?? {}) as Record<string, unknown>;
  const id = typeof params.id === "string" ? params.id : undefined;
  if (route === "/api/webhooks") {
    if (SAFE_METHODS.has(request.method)) return; // the list keeps the token's webhooks only
    // A deployment: a new version of one of its webhooks, never a new webhook.
    // The webhook the add would update: the one of the name given, else the one of the path.
    const body = request.body as { path?: unknown; name?: unknown } | undefined;
    const given = body?.path;
    const existing =
      typeof body?.name === "string" && body.name !== given
        ? await store.findWebhookByName(body.name)
        : typeof given === "string" && path.isAbsolute(given)
          ? await store.findWebhookByPath(path.normalize(given))
          : undefined;
    if (existing && allowed.has(existing.id)) return;
    throw new AppError(
      "forbidden",
      `the token "${token.name}" is limited to some webhooks: it deploys new versions of those only, never a ` +
        "new webhook; deploy this notebook with a token that is not limited (an admin makes one with " +
        "`nbhook tokens create NAME --scope deploy`)",
    );
  }
  if (route.startsWith("/api/webhooks/")) {
    if (id === undefined) {
      throw new AppError(
        "forbidden",
        `${request.method} ${route} is not open to a token limited to some webhooks ("${token.name}"): use one that is not limited`,
      );
    }
    if (!allowed.has(id)) throw noWebhook(id); // as if it did not exist: nothing about others leaks
    return;
  }
  if (route.startsWith("/api/runs/") && id !== undefined) {
    const run = await store.getRun(id);
    if (run && !allowed.has(run.webhookId)) throw noRun(id);
  }
}

async function authenticate(request: FastifyRequest, deps: AuthDeps): Promise<Authentication | undefined> {
  const header = request.headers.authorization;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header ?? "")?.[1];
  if (bearer !== undefined) {
    const token = await deps.tokens.verify(bearer);
    if (token) return { via: "bearer", token };
  }
  // GET /api/runs/{id}[/response] also take the run's webhook token (docs/api.md, "Asynchronous calls").
  if (header && (await isRunPollAuthorized(request, deps.store))) return { via: "webhook-token" };
  if (header) return undefined; // a wrong bearer is refused, even with a cookie
  const opened = await openSession(request, deps.sessions);
  if (!opened) return undefined;
  if (!SAFE_METHODS.has(request.method)) checkCsrf(request, opened.session, deps.baseUrl);
  return { via: "session", ...opened };
}

async function openSession(
  request: FastifyRequest,
  sessions: Sessions,
): Promise<{ session: Session; token: ApiToken } | undefined> {
  const raw = request.cookies[SESSION_COOKIE];
  if (!raw) return undefined;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && unsigned.value !== null ? sessions.read(unsigned.value) : undefined;
}

/** The request's valid session cookie, if any. */
export async function sessionOf(request: FastifyRequest, sessions: Sessions): Promise<Session | undefined> {
  return (await openSession(request, sessions))?.session;
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
