/**
 * The dashboard's one connection to the server: the SDK's ApiClient on this page's origin, with
 * the session's CSRF token on every request (the cookie itself is the browser's). Nothing here
 * reaches past the public API.
 */
import { ApiClient } from "../client/api-client.js";
import type { SessionJson } from "../api/session-schemas.js";
import { NbhookApiError } from "../client/errors.js";

let csrfToken: string | undefined;
let signedInAs: SessionJson["token"];
let onSignedOut: () => void = () => {};

export const api = new ApiClient({
  url: location.origin,
  headers: (): Record<string, string> => (csrfToken ? { "x-csrf-token": csrfToken } : {}),
});

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** The session's token (name, scope, webhooks), from GET/POST /api/session. */
export function setSignedInAs(token: SessionJson["token"]): void {
  signedInAs = token;
}

export function signedInToken(): SessionJson["token"] {
  return signedInAs;
}

/**
 * Whether the session's token may change webhooks (rotate, delete, clear): pages leave out what
 * it may not do. An older server that names no token: offered, and its 403 says why.
 */
export function canDeploy(): boolean {
  return signedInAs === undefined || signedInAs.scope !== "read";
}

/** What to do when the server says the session is over (401): the app shows the sign-in page. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/** Calls `onSignedOut` for a 401, and gives back the error for the page to show otherwise. */
export function noticeSignOut(err: unknown): unknown {
  if (err instanceof NbhookApiError && err.status === 401) onSignedOut();
  return err;
}

/** An error as a sentence for the page. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The path of an absolute URL the server handed out (webhook URLs), to call it on this origin. */
export function pathOf(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}
