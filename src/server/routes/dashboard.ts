/**
 * The dashboard's pages and files (docs/dashboard.md). Every page is the same small HTML file that
 * loads the app (built by `npm run build` into dist/dashboard/); the app reads everything it shows
 * from /api, where the session cookie or a token is needed. The pages themselves hold no data, so
 * they open without signing in (the sign-in page is one of them).
 *
 * Each page gets a Content-Security-Policy without inline scripts: scripts, styles and requests
 * from this server only; notebook HTML is shown in sandboxed frames (srcdoc, or the run's output
 * page with its own `sandbox` policy), never in the page itself.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";

/** dist/dashboard/ of this package (the same from src/ under vitest and from dist/). */
export const DASHBOARD_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "dist",
  "dashboard",
);

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Styles: the app's file, and the inline styles of answers previewed in sandboxed srcdoc frames
  // (a srcdoc frame inherits the page's policy).
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "frame-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The client-side routes (src/dashboard/routes.ts): each answers the app's page. */
const PAGES = ["/", "/signin", "/webhooks", "/webhooks/*", "/runs", "/runs/*"];

export async function registerDashboardRoutes(app: FastifyInstance): Promise<void> {
  let page: string | undefined;
  try {
    page = await readFile(path.join(DASHBOARD_DIR, "index.html"), "utf8");
  } catch {
    page = undefined; // not built: the pages say how to build it
  }
  const send = (reply: FastifyReply) => {
    reply
      .header("content-security-policy", DASHBOARD_CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("cache-control", "no-cache");
    if (page) return reply.type("text/html; charset=utf-8").send(page);
    return reply
      .status(503)
      .type("text/plain; charset=utf-8")
      .send(
        "The dashboard is not built: run `npm run build` in the nbhook folder, then restart the server.\n",
      );
  };
  for (const url of PAGES) app.get(url, { schema: { hide: true } }, async (_request, reply) => send(reply));
  if (page) {
    await app.register(fastifyStatic, {
      root: path.join(DASHBOARD_DIR, "assets"),
      prefix: "/assets/",
      decorateReply: false,
      // The files' names carry a hash of their content: cached for good.
      immutable: true,
      maxAge: "365d",
      setHeaders: (res) => void res.header("x-content-type-options", "nosniff"),
    });
  }
}
