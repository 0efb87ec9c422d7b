/**
 * The dashboard end to end, in Debian's Chromium driven by playwright-core (never a downloaded
 * browser): sign in, a webhook deployed with the CLI appearing, a call through the Try form with
 * typed values, the run appearing live and its notebook, an error run's traceback, rotate, delete,
 * sign out; a wrong token and a change without the CSRF token refused. A screenshot of each page
 * goes to test-results/dashboard/ (ignored by git). Needs `npm run build` (the CLI and the app).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { resolveServerConfig } from "../../src/server/config.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook } from "../support/notebooks.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = path.join(ROOT, "dist", "cli", "main.js");
const SHOTS = path.join(ROOT, "test-results", "dashboard");

guardKernelLeaks();

let server: RunningServer;
let home: string;
let work: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

const GREET = makeNotebook([
  { source: "import nbhook", tags: ["setup"] },
  {
    source: "name = 'world'\ntimes = 2\nratio = 0.5\nloud = False\ntags = ['a']\noptions = {'k': 1}",
    tags: ["parameters"],
  },
  "types = {k: type(v).__name__ for k, v in dict(name=name, times=times, ratio=ratio, loud=loud, tags=tags, options=options).items()}\n" +
    "greeting = ('HELLO ' if loud else 'hello ') + name * times\n" +
    "nbhook.webhook.respond_json({'greeting': greeting, 'types': types, 'ratio': ratio, 'tags': tags})",
]);

// An HTML answer whose script tries to use the signed-in user's session.
const SNOOP = makeNotebook([
  "import nbhook",
  "nbhook.webhook.respond_html(\"<h1>page</h1><script>fetch('/api/session').then(r => r.text())" +
    ".then(t => { document.title = 'read: ' + t; }, () => { document.title = 'blocked'; })</script>\")",
]);

const FAILS = makeNotebook([
  { source: "limit = 3", tags: ["parameters"] },
  "def check(n):\n    raise ValueError(f'limit {n} is too small')\ncheck(limit)",
]);

function nbhook(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, "--url", server.url], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "", HOME: work, NBHOOK_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium, or scripts/install-system-deps.sh)`,
    );
  }
  if (!existsSync(path.join(ROOT, "dist", "dashboard", "index.html"))) {
    throw new Error("the dashboard is not built: run `npm run build` first");
  }
  mkdirSync(SHOTS, { recursive: true });
  home = mkdtempSync(path.join(os.tmpdir(), "nbhook-home-"));
  work = mkdtempSync(path.join(os.tmpdir(), "nbhook-work-"));
  writeFileSync(path.join(work, "greet.ipynb"), JSON.stringify(GREET));
  writeFileSync(path.join(work, "fails.ipynb"), JSON.stringify(FAILS));
  writeFileSync(path.join(work, "snoop.ipynb"), JSON.stringify(SNOOP));
  server = await startServer(resolveServerConfig({ host: "127.0.0.1", port: 0, home, poolSize: 1 }, {}));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      // The executed notebook is a sandboxed iframe: out of process, it screenshots blank.
      "--disable-site-isolation-trials",
      "--disable-features=site-per-process,IsolateOrigins",
    ],
  });
  context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
}, 120_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  rmSync(home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("the dashboard in a browser", () => {
  it("sends a visitor to the sign-in page and refuses a wrong token", async () => {
    await page.goto("/runs");
    await page.waitForURL(/\/signin\?next=%2Fruns/);
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not the API token");
    await shot("01-sign-in-refused");
    const cookies = await context.cookies();
    expect(cookies.filter((c) => c.name === "nbhook_session")).toEqual([]);
  });

  it("signs in with the API token: an HttpOnly, SameSite=Strict session cookie, then the page asked for", async () => {
    await page.getByLabel("API token").fill(server.deps.apiToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/runs$/);
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Runs");
    const cookie = (await context.cookies()).find((c) => c.name === "nbhook_session");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(cookie!.value).not.toContain(server.deps.apiToken);
  });

  it("shows a webhook deployed with the CLI without a reload", async () => {
    await page.goto("/");
    await expect.poll(() => page.locator("main").textContent()).toContain("No webhook is deployed yet");
    const added = await nbhook("add", "greet.ipynb");
    expect(added.code, added.stderr).toBe(0);
    const row = page.locator("tr", { hasText: "greet.ipynb" });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain("/notebook/");
    expect(await row.textContent()).toContain("isolated");
    await shot("02-webhooks");
  });

  it("calls the webhook from the Try form with typed values, and shows the answer", async () => {
    await page.locator("tr", { hasText: "greet.ipynb" }).getByRole("link", { name: "greet.ipynb" }).click();
    await page.getByRole("link", { name: "Try it" }).click();
    await page.getByLabel("name", { exact: true }).fill("Ada");
    await page.getByLabel("times", { exact: true }).fill("3");
    await page.getByLabel("ratio", { exact: true }).fill("2");
    await page.getByLabel("loud", { exact: true }).check();
    await page.getByLabel("tags", { exact: true }).fill('["x", "y"]');
    await shot("03-try-form");
    await page.getByRole("button", { name: "Call the webhook" }).click();
    const body = page.getByTestId("answer-body");
    await body.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("answer-status").textContent()).toBe("HTTP 200");
    const answer = JSON.parse((await body.textContent())!) as Record<string, unknown>;
    expect(answer).toEqual({
      greeting: "HELLO AdaAdaAda",
      types: { name: "str", times: "int", ratio: "float", loud: "bool", tags: "list", options: "dict" },
      ratio: 2.0,
      tags: ["x", "y"],
    });
    await shot("04-try-answer");
  });

  it("refuses a wrong value in the form before calling", async () => {
    await page.getByLabel("times", { exact: true }).fill("three");
    await page.getByRole("button", { name: "Call the webhook" }).click();
    await expect
      .poll(() => page.locator(".field-error").textContent())
      .toContain("times must be a whole number");
  });

  it("shows runs as they happen on the Runs page, and a run's notebook", async () => {
    await page.goto("/runs");
    await expect.poll(() => page.locator(".live").textContent()).toBe("live");
    const before = await page.locator("tbody tr").count();
    // A call from outside the page: its run appears without a reload.
    const webhook = (await (await fetch(`${server.url}/api/webhooks`, auth())).json()) as {
      webhooks: { url: string }[];
    };
    const called = await fetch(`${webhook.webhooks[0]!.url}?name=Live`);
    expect(called.status).toBe(200);
    const runId = called.headers.get("x-nbhook-run-id")!;
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => row.getAttribute("data-status")).toBe("ok");
    expect(await page.locator("tbody tr").count()).toBe(before + 1);
    await shot("05-runs");

    await row.getByRole("link", { name: runId.slice(0, 12) }).click();
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toContain(runId);
    expect(await page.locator("pre.json").textContent()).toContain('"name": "Live"');
    const frame = page.frameLocator("iframe.notebook-frame");
    await expect
      .poll(() => frame.locator("body").textContent(), { timeout: 10_000 })
      .toContain("hello LiveLive");
    expect(await page.getByRole("region", { name: "Cell timing" }).textContent()).toContain("completed");
    // The answer as the notebook gave it, read from the executed notebook (a synchronous call's
    // answer itself is not kept).
    await expect
      .poll(() => page.getByTestId("answer-body").textContent())
      .toContain('"greeting": "hello LiveLive"');
    expect(await page.getByTestId("answer-status").textContent()).toBe("HTTP 200");
    await shot("06-run");
    // A full-page screenshot leaves the sandboxed frame (another process) blank: the frame itself.
    await page.locator("iframe.notebook-frame").screenshot({ path: path.join(SHOTS, "06-run-notebook.png") });
  });

  it("shows an error run's traceback with its colours", async () => {
    const added = await nbhook("add", "fails.ipynb");
    expect(added.code, added.stderr).toBe(0);
    const webhooks = (await (await fetch(`${server.url}/api/webhooks`, auth())).json()) as {
      webhooks: { path: string; url: string }[];
    };
    const url = webhooks.webhooks.find((w) => w.path.endsWith("fails.ipynb"))!.url;
    const failed = await fetch(url);
    expect(failed.status).toBe(500);
    await page.goto(`/runs/${failed.headers.get("x-nbhook-run-id")}`);
    const error = page.locator("section", { has: page.getByRole("heading", { name: "Error" }) });
    await expect.poll(() => error.textContent()).toContain("ValueError: limit 3 is too small");
    expect(await page.locator("pre.traceback").textContent()).toContain(
      "raise ValueError(f'limit {n} is too small')",
    );
    // The coloured traceback comes from the executed notebook, once it is read.
    await expect
      .poll(() => page.locator("pre.traceback span[class*='ansi-']").count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    expect(await page.locator("pre.traceback").innerHTML()).not.toContain("\u001b[");
    await shot("07-error-run");
  });

  it("keeps a notebook's HTML answer, opened by a signed-in user, away from the session", async () => {
    const added = await nbhook("add", "snoop.ipynb", "--inline");
    expect(added.code, added.stderr).toBe(0);
    const url = added.stdout.trim().split("\n")[0]!;
    const answer = await page.goto(url);
    expect(answer!.headers()["content-security-policy"]).toMatch(/^sandbox allow-scripts/);
    expect(await page.locator("h1").textContent()).toBe("page");
    // The script ran, in a sandbox without this server's origin: it could not read the session.
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe("blocked");
  });

  it("refuses a change made with the session cookie but without the CSRF token", async () => {
    const list = (await (await fetch(`${server.url}/api/webhooks`, auth())).json()) as {
      webhooks: { id: string }[];
    };
    // The context's request API sends the browser's cookies, as a cross-site form or script would.
    const refused = await context.request.post(`/api/webhooks/${list.webhooks[0]!.id}/rotate`);
    expect(refused.status()).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe("forbidden");
    expect((await context.request.get("/api/webhooks")).status()).toBe(200); // reading needs no CSRF token
  });

  it("rotates a webhook's URL and deletes it, each after a confirmation", async () => {
    await page.goto("/");
    await page.locator("tr", { hasText: "greet.ipynb" }).getByRole("link", { name: "greet.ipynb" }).click();
    const urlBox = page.getByTestId("webhook-url");
    const oldUrl = (await urlBox.textContent())!;
    await shot("08-webhook");
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await shot("08-webhook-phone");
    await page.setViewportSize({ width: 1280, height: 860 });
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Rotate URL" }).click();
    await expect.poll(() => urlBox.textContent()).not.toBe(oldUrl);
    expect((await fetch(oldUrl)).status).toBe(404);
    expect((await fetch((await urlBox.textContent())!)).status).toBe(200);

    page.once("dialog", (dialog) => void dialog.dismiss()); // changing one's mind deletes nothing
    await page.getByRole("button", { name: "Delete" }).click();
    expect((await fetch((await urlBox.textContent())!)).status).toBe(200);
    const newUrl = (await urlBox.textContent())!;
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(`${server.url}/`);
    await expect.poll(() => page.locator("tr", { hasText: "greet.ipynb" }).count()).toBe(0);
    expect((await fetch(newUrl)).status).toBe(404);
    await page.getByLabel("Show deleted").check();
    await expect.poll(() => page.locator("tr.deleted", { hasText: "greet.ipynb" }).count()).toBe(1);
  });

  it("shows a webhook deployed under a name by that name, with its path, host and CORS origins", async () => {
    writeFileSync(path.join(work, "named.ipynb"), JSON.stringify(GREET));
    const added = await nbhook(
      "add",
      "named.ipynb",
      "--name",
      "team/greeter",
      "--cors",
      "https://app.example.com",
    );
    expect(added.code, added.stderr).toBe(0);
    await page.goto("/");
    const row = page.locator("tr", { hasText: "team/greeter" });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain(`${path.join(work, "named.ipynb")} (${os.hostname()})`);
    await row.getByRole("link", { name: "team/greeter" }).click();
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("team/greeter");
    const head = (await page.locator(".page-head .path").textContent()) ?? "";
    expect(head).toContain(path.join(work, "named.ipynb"));
    expect(head).toContain(`deployed from ${os.hostname()}`);
    expect(await page.locator("dl.settings").textContent()).toContain("https://app.example.com");
    expect(await page.title()).toContain("team/greeter");
    await shot("11-named-webhook");
  });

  it("opens the API docs, generated from the routes, for a signed-in browser", async () => {
    await page.goto("/docs");
    await expect.poll(() => page.locator(".opblock").count(), { timeout: 10_000 }).toBeGreaterThan(10);
    expect(await page.locator("body").textContent()).toContain("/api/webhooks");
    await shot("10-api-docs");
  });

  it("signed in with a read token, offers no change: no Rotate, Delete or Clear, and names the token", async () => {
    const nb = JSON.stringify(makeNotebook(["1 + 1"]));
    const deployed = await fetch(`${server.url}/api/webhooks`, {
      method: "POST",
      headers: { ...(auth().headers as Record<string, string>), "content-type": "application/json" },
      body: JSON.stringify({ path: path.join(work, "viewed.ipynb"), notebook: nb }),
    });
    const { webhook } = (await deployed.json()) as { webhook: { id: string } };
    const made = await fetch(`${server.url}/api/tokens`, {
      method: "POST",
      headers: { ...(auth().headers as Record<string, string>), "content-type": "application/json" },
      body: JSON.stringify({ name: "viewer", scope: "read" }),
    });
    const { token } = (await made.json()) as { token: string };
    const reader = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 860 } });
    try {
      const readerPage = await reader.newPage();
      await readerPage.goto(`/webhooks/${webhook.id}`);
      await readerPage.waitForURL(/\/signin/);
      await readerPage.getByLabel("API token").fill(token);
      await readerPage.getByRole("button", { name: "Sign in" }).click();
      await expect
        .poll(() => readerPage.getByRole("heading", { level: 1 }).textContent())
        .toBe("viewed.ipynb");
      await expect.poll(() => readerPage.locator("header.top").textContent()).toContain("viewer (read)");
      expect(await readerPage.getByRole("button", { name: "Rotate URL" }).count()).toBe(0);
      expect(await readerPage.getByRole("button", { name: "Delete" }).count()).toBe(0);
      expect(await readerPage.getByRole("button", { name: "Clear" }).count()).toBe(0);
      await readerPage.screenshot({ path: path.join(SHOTS, "11-read-token.png") });
    } finally {
      await reader.close();
    }
  });

  it("signs out: the cookie no longer opens the API, and pages ask to sign in again", async () => {
    await page.goto("/");
    const cookie = (await context.cookies()).find((c) => c.name === "nbhook_session")!;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/signin/);
    await shot("09-signed-out");
    expect((await context.cookies()).find((c) => c.name === "nbhook_session")).toBeUndefined();
    // The old cookie, replayed, is refused too.
    const replayed = await fetch(`${server.url}/api/webhooks`, {
      headers: { cookie: `${cookie.name}=${cookie.value}` },
    });
    expect(replayed.status).toBe(401);
    await page.goto("/");
    await page.waitForURL(/\/signin/);
  });
});

function auth(): RequestInit {
  return { headers: { authorization: `Bearer ${server.deps.apiToken}` } };
}
