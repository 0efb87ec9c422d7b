/**
 * The management commands of the built CLI (`node dist/cli/main.js`, so `npm run build` first)
 * against a real server on loopback. The CLI finds the API token through NBHOOK_HOME, as it would
 * on the server's machine. No kernel: runs and outputs are recorded through the store.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NbhookClient } from "../../src/client/index.js";
import { makeNotebook } from "../support/notebooks.js";
import { removeHome, startTestServer, type TestServer } from "../support/manage-server.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

let server: TestServer;
let client: NbhookClient;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nbhook ...args --url <server>` in `cwd` with NBHOOK_HOME set to the server's home. */
function nbhook(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  withUrl = true,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, ...(withUrl ? ["--url", server.url] : [])], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, NBHOOK_HOME: server.home, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/** A fresh folder holding `report.ipynb` (and `cities.csv`); answers the folder. */
const workspaces: string[] = [];
function workspace(n = 0): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nbhook-cli-"));
  workspaces.push(dir);
  writeNotebook(dir, n);
  writeFileSync(path.join(dir, "cities.csv"), "city\nParis\n");
  return dir;
}

function writeNotebook(dir: string, n: number): void {
  writeFileSync(
    path.join(dir, "report.ipynb"),
    JSON.stringify(makeNotebook([{ source: `n = ${n}`, tags: ["parameters"] }])),
  );
}

/** Deploys report.ipynb of `dir` `count` times (versions n = 0, 1, …); answers histos, newest first. */
async function deployVersions(dir: string, count: number): Promise<string[]> {
  const histos: string[] = [];
  for (let n = 0; n < count; n++) {
    writeNotebook(dir, n);
    const result = await nbhook(["add", "report.ipynb", "--json"], dir);
    expect(result.code, result.stderr).toBe(0);
    histos.unshift((JSON.parse(result.stdout) as { version: { histo: string } }).version.histo);
  }
  return histos;
}

/** A loopback port nothing listens on (one just released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const tokenOf = (url: string) => url.trim().slice(url.trim().lastIndexOf("/") + 1);

beforeAll(async () => {
  expect(existsSync(CLI), "run `npm run build` first").toBe(true);
  server = await startTestServer();
  client = new NbhookClient({ url: server.url, token: server.token });
});
afterAll(async () => {
  await server.close();
  removeHome(server);
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
});

describe("nbhook add and find", () => {
  it("add prints the URL and deploys every setting; a re-add keeps the URL and says which version it added", async () => {
    const dir = workspace();
    const first = await nbhook(
      [
        "add",
        "report.ipynb",
        "--notif-up",
        "ops@example.com",
        "--notif-up",
        "dev@example.com",
        "--notif-down",
        "oncall@example.com",
        "--next-url",
        "https://example.com/done",
        "--inline",
        "-p",
        "days",
        "3",
        "-p",
        "ratio",
        "0.5",
        "-r",
        "code",
        "007",
        "--debug-runs",
        "--timeout",
        "90",
        "--file",
        "cities.csv",
      ],
      dir,
    );
    expect(first.code, first.stderr).toBe(0);
    const url = first.stdout.trim();
    expect(url).toMatch(new RegExp(`^${server.url}/notebook/[A-Za-z0-9_-]{43}$`));
    expect(first.stderr).toMatch(`deployed ${path.join(dir, "report.ipynb")}`);

    const webhook = await client.webhook(path.join(dir, "report.ipynb"));
    expect(webhook.params).toEqual({
      days: 3,
      ratio: 0.5,
      code: "007",
      notif_up: ["ops@example.com", "dev@example.com"],
      notif_down: ["oncall@example.com"],
      next_url: "https://example.com/done",
      inline: true,
    });
    expect(webhook.debug).toBe(true);
    expect(webhook.timeout_ms).toBe(90_000);
    expect(readFileSync(path.join(await server.deps.store.filesDir(webhook.id), "cities.csv"), "utf8")).toBe(
      "city\nParis\n",
    );

    writeNotebook(dir, 1);
    const again = await nbhook(["add", path.join(dir, "report.ipynb")], os.tmpdir());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(url);
    const live = (await client.webhook(path.join(dir, "report.ipynb"))).live_histo;
    expect(again.stderr).toMatch(`new version ${live} of ${path.join(dir, "report.ipynb")}`);

    const found = await nbhook(["find", "report.ipynb"], dir);
    expect(found).toMatchObject({ code: 0, stdout: url + "\n" });
  });

  it("find exits 1 with how to deploy when the notebook has no webhook", async () => {
    const dir = workspace();
    const result = await nbhook(["find", "report.ipynb"], dir);
    expect(result.code).toBe(1);
    const file = path.join(dir, "report.ipynb");
    expect(result.stderr).toBe(
      `nbhook: no webhook named report.ipynb nor deployed from ${file}: deploy it with \`nbhook add ${file}\` ` +
        "(list them with `nbhook currents`)\n",
    );
  });

  it("add explains refused settings and notebooks, with exit 2", async () => {
    const dir = workspace();
    const badUrl = await nbhook(["add", "report.ipynb", "--next-url", "ftp://example.com"], dir);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/next_url.*must be an absolute http or https URL/);
    const badMail = await nbhook(["add", "report.ipynb", "--notif-down", "not-an-address"], dir);
    expect(badMail.code).toBe(2);
    expect(badMail.stderr).toMatch(/"not-an-address" is not an email address/);
    writeFileSync(
      path.join(dir, "broken.ipynb"),
      JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: "code" }] }),
    );
    const broken = await nbhook(["add", "broken.ipynb"], dir);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(
      /broken\.ipynb is not a valid nbformat v4 notebook:\n.*cell 1, field "source"/,
    );
    const missing = await nbhook(["add", "nope.ipynb"], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(`cannot read notebook ${path.join(dir, "nope.ipynb")}: no such file`);
    const badTimeout = await nbhook(["add", "report.ipynb", "--timeout", "-3"], dir);
    expect(badTimeout.code).toBe(2);
    expect(await client.lookup(path.join(dir, "report.ipynb"))).toBeUndefined();
  });
});

describe("nbhook list, get and clear", () => {
  it("list prints the versions with the live one marked, or the API's JSON with --json", async () => {
    const dir = workspace();
    const histos = await deployVersions(dir, 2);
    const table = await nbhook(["list", "report.ipynb"], dir);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^HISTO\s+DATE\s+SIZE\s+LIVE$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${histos[0]}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+\\d+ B\\s+live$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^${histos[1]}\\s+.*B$`));
    const json = JSON.parse((await nbhook(["list", "report.ipynb", "--json"], dir)).stdout) as {
      histo: string;
      live: boolean;
    }[];
    expect(json.map((v) => [v.histo, v.live])).toEqual([
      [histos[0], true],
      [histos[1], false],
    ]);
  });

  it("get writes <name>.<histo>.ipynb beside the notebook and never overwrites a file without --force", async () => {
    const dir = workspace();
    const histos = await deployVersions(dir, 2);
    const expected = path.join(dir, `report.${histos[0]}.ipynb`);
    const got = await nbhook(["get", "report.ipynb"], dir);
    expect(got).toMatchObject({ code: 0, stdout: expected + "\n" });
    expect(readFileSync(expected, "utf8")).toContain("n = 1");

    writeFileSync(expected, "mine");
    const refused = await nbhook(["get", "report.ipynb"], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      `${expected} already exists: choose another file with -o FILE, or pass --force`,
    );
    expect(readFileSync(expected, "utf8")).toBe("mine");
    expect((await nbhook(["get", "report.ipynb", "--force"], dir)).code).toBe(0);
    expect(readFileSync(expected, "utf8")).toContain("n = 1");

    const old = await nbhook(["get", "report.ipynb", "--histo", histos[1]!, "-o", "old.ipynb"], dir);
    expect(old).toMatchObject({ code: 0, stdout: path.join(dir, "old.ipynb") + "\n" });
    expect(readFileSync(path.join(dir, "old.ipynb"), "utf8")).toContain("n = 0");
    const stdout = await nbhook(["get", "report.ipynb", "-o", "-"], dir);
    expect(JSON.parse(stdout.stdout)).toMatchObject({ nbformat: 4 });
    const unknown = await nbhook(["get", "report.ipynb", "--histo", "20000101000000000000"], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no version 20000101000000000000 of .*: see `nbhook list/);
  });

  it("clear removes one version, refuses the live one without --force, and --all keeps the live one", async () => {
    const dir = workspace();
    const [live, middle, oldest] = (await deployVersions(dir, 3)) as [string, string, string];
    const one = await nbhook(["clear", "report.ipynb", "--histo", middle], dir);
    expect(one).toMatchObject({ code: 0 });
    expect(one.stdout).toMatch(`cleared 1 version of ${path.join(dir, "report.ipynb")}: ${middle}`);

    const refused = await nbhook(["clear", "report.ipynb", "--histo", live], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is the live version .*--force/);
    const neither = await nbhook(["clear", "report.ipynb"], dir);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/say what to clear: --histo HISTO .* or --all/);

    const all = await nbhook(["clear", "report.ipynb", "--all"], dir);
    expect(all.stdout).toMatch(`cleared 1 version of ${path.join(dir, "report.ipynb")}: ${oldest}`);
    const nothing = await nbhook(["clear", "report.ipynb", "--all"], dir);
    expect(nothing.stdout).toMatch(/nothing to clear: .* has only its live version/);
    expect((await client.list(path.join(dir, "report.ipynb"))).map((v) => v.histo)).toEqual([live]);

    const forced = await nbhook(["clear", "report.ipynb", "--histo", live, "--force", "--json"], dir);
    expect(JSON.parse(forced.stdout)).toEqual({ deleted: [live] });
  });
});

describe("nbhook get-output, clear-output and runs", () => {
  it("get-output writes a run's executed notebook; clear-output removes one or all", async () => {
    const dir = workspace();
    await deployVersions(dir, 1);
    const webhook = await client.webhook(path.join(dir, "report.ipynb"));
    const { store } = server.deps;
    const histos: string[] = [];
    for (const i of [0, 1]) {
      const run = await store.createRun({
        webhookId: webhook.id,
        versionHisto: webhook.live_histo!,
        parameters: {},
      });
      await store.writeOutput(
        webhook.id,
        run.outputHisto,
        JSON.stringify(makeNotebook([`out = ${i}`])),
        run.id,
      );
      histos.unshift(run.outputHisto);
    }
    const got = await nbhook(["get-output", "report.ipynb"], dir);
    const expected = path.join(dir, `report.output.${histos[0]}.ipynb`);
    expect(got).toMatchObject({ code: 0, stdout: expected + "\n" });
    expect(readFileSync(expected, "utf8")).toContain("out = 1");
    expect((await nbhook(["get-output", "report.ipynb"], dir)).code).toBe(2);
    const older = await nbhook(
      ["get-output", "report.ipynb", "--histo", histos[1]!, "-o", "older.ipynb"],
      dir,
    );
    expect(older.code, older.stderr).toBe(0);
    expect(readFileSync(path.join(dir, "older.ipynb"), "utf8")).toContain("out = 0");

    expect((await nbhook(["clear-output", "report.ipynb", "--histo", histos[0]!], dir)).stdout).toMatch(
      `cleared 1 output of`,
    );
    expect((await nbhook(["clear-output", "report.ipynb"], dir)).stdout).toMatch(`: ${histos[1]}`);
    expect((await nbhook(["clear-output", "report.ipynb"], dir)).stdout).toMatch(
      /nothing to clear: .* has no outputs/,
    );
    const none = await nbhook(["get-output", "report.ipynb", "-o", "x.ipynb"], dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no output yet/);
  });

  it("runs lists a notebook's runs; --id shows one run and -o writes its notebook", async () => {
    const dir = workspace();
    await deployVersions(dir, 1);
    const webhook = await client.webhook(path.join(dir, "report.ipynb"));
    const { store } = server.deps;
    const run = await store.createRun({
      webhookId: webhook.id,
      versionHisto: webhook.live_histo!,
      parameters: { city: "Paris" },
    });
    await store.writeOutput(webhook.id, run.outputHisto, JSON.stringify(makeNotebook(["boom()"])), run.id);
    await store.finishRun(run.id, {
      status: "error",
      durationMs: 1500,
      error: {
        ename: "NameError",
        evalue: "name 'boom' is not defined",
        traceback: ["\u001b[31mNameError\u001b[0m: boom"],
        cellIndex: 0,
      },
      httpStatus: 500,
    });

    const table = await nbhook(["runs", "report.ipynb"], dir);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^RUN\s+STARTED\s+STATUS\s+DURATION\s+HTTP\n/);
    expect(table.stdout).toMatch(new RegExp(`${run.id}\\s+\\S+ \\S+\\s+error\\s+1\\.50 s\\s+500`));
    const limited = JSON.parse(
      (await nbhook(["runs", "report.ipynb", "--limit", "1", "--json"], dir)).stdout,
    ) as unknown[];
    expect(limited).toHaveLength(1);

    const one = await nbhook(["runs", "--id", run.id], dir);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/status\s+error \(HTTP 500\)/);
    expect(one.stdout).toMatch(/error\s+NameError: name 'boom' is not defined in cell 1/);
    expect(one.stdout).toMatch(/^NameError: boom$/m);
    expect(one.stdout).toMatch(/parameters {"city":"Paris"}/);
    const saved = await nbhook(["runs", "--id", run.id, "-o", "run.ipynb"], dir);
    expect(saved.code, saved.stderr).toBe(0);
    expect(readFileSync(path.join(dir, "run.ipynb"), "utf8")).toContain("boom()");
    const unknown = await nbhook(["runs", "--id", "nope"], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no run with id nope/);
  });
});

describe("nbhook delete, currents and rotate", () => {
  it("currents lists path, URL and last run; --raw prints every field; delete stops the URL", async () => {
    const dir = workspace();
    await deployVersions(dir, 1);
    const file = path.join(dir, "report.ipynb");
    const url = (await nbhook(["find", "report.ipynb"], dir)).stdout.trim();
    const table = await nbhook(["currents"], dir);
    expect(table.stdout).toMatch(/^PATH\s+URL\s+LAST RUN\n/);
    expect(table.stdout).toMatch(new RegExp(`${file}\\s+${url}\\s+never`));
    const raw = JSON.parse((await nbhook(["currents", "--raw"], dir)).stdout) as {
      path: string;
      id: string;
      url: string;
    }[];
    expect(raw.find((w) => w.path === file)).toMatchObject({ url, live_histo: expect.any(String) });

    const deleted = await nbhook(["delete", "report.ipynb"], dir);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(`deleted the webhook ${file}`);
    expect(await server.deps.store.findWebhookByToken(tokenOf(url))).toBeUndefined();
    expect((await fetch(url)).status).toBe(404);
    expect((await nbhook(["find", "report.ipynb"], dir)).code).toBe(1);
    expect((await nbhook(["currents"], dir)).stdout).not.toMatch(file);
    expect((await nbhook(["currents", "--deleted"], dir)).stdout).toMatch(`${file} (deleted)`);
    expect((await nbhook(["delete", "report.ipynb"], dir)).code).toBe(1);
  });

  it("rotate prints a new URL and the old one stops working", async () => {
    const dir = workspace();
    await deployVersions(dir, 1);
    const old = (await nbhook(["find", "report.ipynb"], dir)).stdout.trim();
    const rotated = await nbhook(["rotate", "report.ipynb"], dir);
    expect(rotated.code, rotated.stderr).toBe(0);
    const url = rotated.stdout.trim();
    expect(url).not.toBe(old);
    expect(rotated.stderr).toMatch(/the old one no longer works/);
    expect(await server.deps.store.findWebhookByToken(tokenOf(old))).toBeUndefined();
    expect((await nbhook(["find", "report.ipynb"], dir)).stdout.trim()).toBe(url);
  });
});

describe("reaching the server", () => {
  it("finds the server through NBHOOK_URL and the token through the home folder", async () => {
    const dir = workspace();
    const result = await nbhook(["currents", "--json"], dir, { NBHOOK_URL: server.url }, false);
    expect(result.code, result.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(result.stdout))).toBe(true);
  });

  it("says how to start the server when it cannot be reached (exit 5), and how to fix a wrong token (exit 2)", async () => {
    const dir = workspace();
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const down = await nbhook(["list", "report.ipynb", "--url", closed], dir, {}, false);
    expect(down.code).toBe(5);
    expect(down.stderr).toBe(
      `nbhook: cannot reach the nbhook server at ${closed} (ECONNREFUSED): start it with \`nbhook serve\`, or point --url / NBHOOK_URL at it\n`,
    );
    const wrong = await nbhook(["list", "report.ipynb", "--token", "wrong"], dir);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/wrong API token.*api-token/);
    const noToken = await nbhook(["currents"], dir, { NBHOOK_HOME: path.join(dir, "empty-home") });
    expect(noToken.code).toBe(2);
  });

  it("--debug prints each request and reply on stderr with webhook tokens masked", async () => {
    const dir = workspace();
    const result = await nbhook(["add", "report.ipynb", "--debug"], dir);
    expect(result.code, result.stderr).toBe(0);
    const token = tokenOf(result.stdout);
    expect(result.stderr).toMatch(new RegExp(`> POST ${server.url}/api/webhooks \\{"path":`));
    expect(result.stderr).toMatch(/< 201 Created in \d+ ms \{"created":true/);
    expect(result.stderr).toMatch("/notebook/<token>");
    expect(result.stderr).not.toMatch(token);
    expect(result.stderr).not.toMatch(server.token);
  });
});
