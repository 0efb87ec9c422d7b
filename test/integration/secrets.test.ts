/**
 * Stored secrets (docs/secrets.md) on a real `nbhook serve` process with real ipykernels: set,
 * listed and deleted with the real CLI (the value on stdin), given to a run's kernel as
 * NBHOOK_SECRET_<NAME> (`naas.secret.get`), the webhook's own winning over a global one; in
 * `setup` mode already for the setup cells, and never lingering in a `reuse` kernel once changed
 * or deleted. A notebook that prints a secret, shows it in HTML and raises with it leaves no byte
 * of it in the home (SQLite database and WAL, saved notebooks), the run records, the server's log
 * or the mail it sends, where it reads "***". The kernels get the server's environment
 * (PYTHONPATH included) without nbhook's own secrets. A server given another key says so.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  call,
  filesUnder,
  startFaultServer,
  stopFaultServers,
  tempFolder,
  waitFor,
  type FaultServer,
} from "../support/fault-server.js";
import { guardKernelLeaks } from "../support/kernel-leaks.js";
import { makeNotebook, type CellSpec } from "../support/notebooks.js";
import { startSmtpServer, type TestSmtpServer } from "../support/smtp.js";

guardKernelLeaks();
afterEach(stopFaultServers);

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const KEY = randomBytes(32).toString("base64");

const API_KEY = "sk-live-API-4242-abcdef";
const OWN_VALUE = "own-DB-pass-7777";
const GLOBAL_VALUE = "global-DB-pass-1111";
const SMTP_PASSWORD = "smtp-PASSWORD-9999";
const VALUES = [API_KEY, OWN_VALUE, GLOBAL_VALUE];

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real CLI against `server`, `stdin` piped in (so not a terminal). */
function cli(server: FaultServer, args: string[], stdin = ""): Promise<Cli> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("NBHOOK_")) env[name] = value;
  }
  const child = spawn(process.execPath, [CLI, ...args, "--url", server.url, "--token", server.token], {
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

/** Where each value occurs in `data`, with context (UTF-8 and UTF-16). */
function valuesIn(where: string, data: Buffer, values = VALUES): string[] {
  const hits: string[] = [];
  for (const value of values) {
    for (const needle of [Buffer.from(value, "utf8"), Buffer.from(value, "utf16le")]) {
      const at = data.indexOf(needle);
      if (at === -1) continue;
      const context = data
        .subarray(Math.max(0, at - 60), at + needle.length + 60)
        .toString("latin1")
        .replace(/[^\x20-\x7e]/g, ".");
      hits.push(`${value} in ${where} at byte ${at}: …${context}…`);
    }
  }
  return hits;
}

function valuesUnder(dir: string): string[] {
  return filesUnder(dir).flatMap((file) => {
    try {
      return valuesIn(file, readFileSync(file));
    } catch {
      return [];
    }
  });
}

async function deploy(
  server: FaultServer,
  name: string,
  cells: CellSpec[],
  { kernel, ...extra }: Record<string, unknown> & { kernel?: "deno" } = {},
) {
  const added = await server.api<{ webhook: { id: string; url: string; path: string } }>(
    "POST",
    "/api/webhooks",
    {
      path: `/work/secrets/${name}.ipynb`,
      notebook: makeNotebook(cells, kernel),
      ...extra,
    },
  );
  return added.webhook;
}

let smtp: TestSmtpServer | undefined;
afterAll(async () => smtp?.close());

describe("stored secrets on a real server", () => {
  it("reach the run's kernel, are scrubbed from all it leaves, and are set, listed and deleted with the CLI", async () => {
    smtp = await startSmtpServer();
    const modules = tempFolder("pythonpath-");
    writeFileSync(path.join(modules, "server_side_module.py"), "ANSWER = 'from the server PYTHONPATH'\n");
    const server = await startFaultServer({
      args: ["--pool", "1"],
      env: {
        NBHOOK_SECRET_KEY: KEY,
        PYTHONPATH: modules,
        NBHOOK_SMTP_HOST: "127.0.0.1",
        NBHOOK_SMTP_PORT: String(smtp.port),
        NBHOOK_SMTP_SECURE: "false",
        NBHOOK_SMTP_FROM: "nbhook@test.example",
        NBHOOK_SMTP_PASSWORD: SMTP_PASSWORD, // no user: never sent, but a secret all the same
      },
    });
    const answers = await deploy(server, "answers", [
      [
        "import os, naas, server_side_module",
        "naas.webhook.respond_json({",
        "  'api': naas.secret.get('API_KEY'),",
        "  'db': naas.secret.get('DB_PASS'),",
        "  'names': naas.secret.list(),",
        "  'module': server_side_module.ANSWER,",
        "  'leaked': sorted(k for k in os.environ if k in ('NBHOOK_SECRET_KEY', 'NBHOOK_SMTP_PASSWORD', 'NBHOOK_SMTP_HOST', 'NBHOOK_TOKEN', 'NBHOOK_DATABASE_URL')),",
        "  'smtp_password_anywhere': any(v == " +
          JSON.stringify(SMTP_PASSWORD) +
          " for v in os.environ.values()),",
        "})",
      ].join("\n"),
    ]);
    const leaky = await deploy(
      server,
      "leaky",
      [
        "import naas\nfrom IPython.display import HTML, display\nkey = naas.secret.get('API_KEY')\nprint('the key is', key)\nprint(repr(naas.secret.get('DB_PASS')))",
        "display(HTML('<b>' + key + '</b>'))",
        "raise ValueError('bad key ' + key)",
      ],
      { params: { notif_down: ["down@example.com"] } },
    );

    const selfie = await deploy(server, "selfie", [
      "import naas\nprint('printed', naas.secret.get('API_KEY'))\nnaas.webhook.respond_notebook()",
    ]);

    // Set with the CLI: the value from stdin, its trailing newline dropped.
    const set = await cli(server, ["secrets", "set", "API_KEY"], `${API_KEY}\n`);
    expect(set, set.stderr).toMatchObject({ code: 0, stdout: "secret API_KEY set for (every webhook)\n" });
    expect((await cli(server, ["secrets", "set", "DB_PASS"], GLOBAL_VALUE)).code).toBe(0);
    const own = await cli(server, ["secrets", "set", "DB_PASS", "--webhook", answers.path], `${OWN_VALUE}\n`);
    expect(own, own.stderr).toMatchObject({ code: 0, stdout: `secret DB_PASS set for ${answers.path}\n` });
    const bad = await cli(server, ["secrets", "set", "not-a-name"], "x");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("cannot be a secret's name");
    const noValue = await cli(server, ["secrets", "set", "EMPTY"], "");
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain("no value");

    const listed = await cli(server, ["secrets", "list"]);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^NAME\s+WEBHOOK\s+UPDATED$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 2))).toEqual([
      ["API_KEY", "(every"],
      ["DB_PASS", "(every"],
      ["DB_PASS", answers.path],
    ]);
    const json = JSON.parse((await cli(server, ["secrets", "list", "--json"])).stdout) as Record<
      string,
      unknown
    >[];
    expect(json.map((s) => [s.name, s.webhook])).toEqual([
      ["API_KEY", null],
      ["DB_PASS", null],
      ["DB_PASS", answers.id],
    ]);
    expect(valuesIn("the list", Buffer.from(listed.stdout + JSON.stringify(json)))).toEqual([]);

    // The notebook's own answer is its own: it shows what the kernel got.
    const answered = await call(answers.url);
    expect(answered.status, answered.text).toBe(200);
    expect(answered.json()).toEqual({
      api: API_KEY,
      db: OWN_VALUE, // the webhook's own wins over the global one
      names: ["API_KEY", "DB_PASS"],
      module: "from the server PYTHONPATH",
      leaked: [],
      smtp_password_anywhere: false,
    });

    // A notebook that prints, shows and raises with a secret.
    const failed = await call(leaky.url);
    expect(failed.status).toBe(500);
    expect(failed.json()).toMatchObject({ ename: "ValueError", evalue: "bad key ***" });
    expect(valuesIn("the failed call's answer", Buffer.from(failed.text))).toEqual([]);
    const [run] = await server.runs(leaky.id);
    expect(run!.error).toMatchObject({ ename: "ValueError", evalue: "bad key ***" });
    const output = await fetch(`${server.url}/api/runs/${run!.id}/output`, {
      headers: { authorization: `Bearer ${server.token}` },
    }).then((r) => r.text());
    expect(output).toContain("the key is ***");
    expect(output).toContain("<b>***</b>");
    expect(output).toContain("'***'"); // the global DB_PASS, as repr() printed it
    // A notebook answering with itself answers what is saved.
    const itself = await call(selfie.url);
    expect(itself.status).toBe(200);
    expect(itself.text).toContain("printed ***");
    expect(valuesIn("respond_notebook's answer", Buffer.from(itself.text))).toEqual([]);
    const mail = await smtp.waitForMail((m) => m.subject?.includes("leaky") ?? false);
    const mailText = `${mail.subject}\n${mail.text ?? ""}\n${typeof mail.html === "string" ? mail.html : ""}`;
    expect(mailText).toContain("bad key ***");
    expect(valuesIn("the mail", Buffer.from(mailText))).toEqual([]);

    // Deleted with the CLI: the webhook's own first, then the global one is what runs get.
    expect((await cli(server, ["secrets", "delete", "DB_PASS", "--webhook", answers.path])).code).toBe(0);
    expect((await call(answers.url)).json()).toMatchObject({ db: GLOBAL_VALUE });
    const gone = await cli(server, ["secrets", "delete", "DB_PASS", "--webhook", answers.path]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("no secret DB_PASS for webhook");
    expect((await cli(server, ["secrets", "delete", "DB_PASS"])).stdout).toBe("secret DB_PASS deleted\n");
    expect((await call(answers.url)).json()).toMatchObject({ db: null, names: ["API_KEY"] });

    expect((await server.stop()).code).toBe(0);
    const found = [
      ...valuesUnder(server.home),
      ...valuesIn("the server's stdout", Buffer.from(server.stdout())),
      ...valuesIn("the server's stderr", Buffer.from(server.stderr())),
    ];
    expect(found, "secret values found").toEqual([]);
    // The database holds ciphertexts (the check above covers nbhook.db and its WAL).
    expect(filesUnder(server.home).some((f) => f.endsWith("nbhook.db"))).toBe(true);
  });

  it("are there for setup cells, and a change or a deletion reaches setup and reuse kernels", async () => {
    const server = await startFaultServer({ args: ["--pool", "1"], env: { NBHOOK_SECRET_KEY: KEY } });
    const setupCell = { source: "import naas\nat_setup = naas.secret.get('TOKEN')", tags: ["setup"] };
    const setup = await deploy(
      server,
      "setup",
      [setupCell, "naas.webhook.respond_json({'setup': at_setup, 'now': naas.secret.get('TOKEN')})"],
      { mode: "setup" },
    );
    const reuse = await deploy(
      server,
      "reuse",
      ["import naas, os\nnaas.webhook.respond_json({'now': naas.secret.get('TOKEN'), 'pid': os.getpid()})"],
      { mode: "reuse" },
    );
    const deno = await deploy(
      server,
      "deno",
      [
        { source: "const atSetup = nbhook.secret.get('TOKEN');", tags: ["setup"] },
        "await nbhook.webhook.respond_json({ setup: atSetup, now: nbhook.secret.get('TOKEN'), env: Deno.env.get('NBHOOK_SECRET_TOKEN') ?? null });",
      ],
      { mode: "reuse", kernel: "deno" },
    );
    const put = (value: string) => server.api("PUT", "/api/secrets/TOKEN", { value });
    await put("token-value-one");
    expect((await call(deno.url)).json()).toEqual({
      setup: "token-value-one",
      now: "token-value-one",
      env: "token-value-one",
    });
    expect((await call(setup.url)).json()).toEqual({ setup: "token-value-one", now: "token-value-one" });
    const first = (await call(reuse.url)).json<{ now: string; pid: number }>();
    expect(first.now).toBe("token-value-one");
    expect((await call(reuse.url)).json()).toEqual(first); // the same kernel, reused

    await put("token-value-two");
    expect((await call(setup.url)).json()).toEqual({ setup: "token-value-two", now: "token-value-two" });
    const changed = (await call(reuse.url)).json<{ now: string; pid: number }>();
    expect(changed.now).toBe("token-value-two");
    expect(changed.pid).not.toBe(first.pid); // a kernel prepared anew

    await server.api("DELETE", "/api/secrets/TOKEN");
    expect((await call(setup.url)).json()).toEqual({ setup: null, now: null });
    expect((await call(reuse.url)).json()).toMatchObject({ now: null });
    expect((await call(deno.url)).json()).toEqual({ setup: null, now: null, env: null });
    expect((await server.stop()).code).toBe(0);
  });

  it("without NBHOOK_SECRET_KEY use a 0600 key file in the home; another key is named plainly", async () => {
    const home = tempFolder("home-");
    mkdirSync(home, { recursive: true });
    const first = await startFaultServer({ home, args: ["--pool", "0"] });
    const hook = await deploy(first, "keyed", [
      "import naas\nnaas.webhook.respond_text(str(naas.secret.get('K1')))",
    ]);
    await first.api("PUT", "/api/secrets/K1", { value: "key-file-value" });
    const keyFile = path.join(home, "secret-key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await call(hook.url)).text).toBe("key-file-value");
    expect((await first.stop()).code).toBe(0);

    // The same home, another key: calls fail saying so, and no secret is set with that key.
    const second = await startFaultServer({ home, args: ["--pool", "0"], env: { NBHOOK_SECRET_KEY: KEY } });
    const failed = await call(hook.url.replace(first.url, second.url));
    expect(failed.status).toBe(500);
    const [record] = (await second.runs(hook.id)).filter((r) => r.status === "error");
    expect(record!.error!.evalue).toContain(
      "the secret K1 cannot be decrypted: it was set with another secret key",
    );
    const refused = await fetch(`${second.url}/api/secrets/K2`, {
      method: "PUT",
      headers: { authorization: `Bearer ${second.token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "other" }),
    });
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({ error: "secret-key" });
    await waitFor("the failure logged", () => second.stdout().includes("another secret key"), 5000);
    expect((await second.stop()).code).toBe(0);
  });
});
