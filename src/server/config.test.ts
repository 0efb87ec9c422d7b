import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { resolveServerConfig } from "./config.js";

describe("--min-free", () => {
  it("reads sizes with units (powers of 1024), bytes, and 0 for no check; 100 MiB by default", () => {
    const minFree = (text?: string, env: NodeJS.ProcessEnv = {}) =>
      resolveServerConfig({ minFreeBytes: text }, env).minFreeBytes;
    expect(minFree()).toBe(100 * 1024 ** 2);
    expect(minFree("0")).toBe(0);
    expect(minFree("5000")).toBe(5000);
    expect(minFree("500M")).toBe(500 * 1024 ** 2);
    expect(minFree("2GiB")).toBe(2 * 1024 ** 3);
    expect(minFree("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(minFree(undefined, { NBHOOK_MIN_FREE: "64k" })).toBe(64 * 1024);
  });

  it("names the flag or variable and what it must be", () => {
    expect(() => resolveServerConfig({ minFreeBytes: "lots" }, {})).toThrow(AppError);
    expect(() => resolveServerConfig({}, { NBHOOK_MIN_FREE: "-1" })).toThrow(
      /NBHOOK_MIN_FREE must be a size such as 100M, 2G or a number of bytes \(0: no check\) \(got "-1"\)/,
    );
  });
});

describe("the config file", () => {
  const homeWith = (name: string, text: string, mode = 0o600) => {
    const home = mkdtempSync(path.join(os.tmpdir(), "config-home-"));
    writeFileSync(path.join(home, name), text, { mode });
    return home;
  };
  const problemsOf = (run: () => unknown): string => {
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("usage");
      return (err as AppError).message;
    }
    throw new Error("no usage error");
  };

  it("is found in the home and sits below the environment and the flags", () => {
    const home = homeWith(
      "nbhook.toml",
      'port = 6000\nmax_runs = 3\nmax_queue = 5\ntimeout = 30\nmax_body = 1048576\nlog_level = "debug"\nworker = true\n' +
        '[smtp]\nhost = "mail.example.com"\nuser = "hooks"\n',
    );
    const config = resolveServerConfig({ home, maxQueue: "7" }, { NBHOOK_MAX_RUNS: "4" });
    expect(config.configFile).toBe(path.join(home, "nbhook.toml"));
    expect(config.port).toBe(6000); // file over the default
    expect(config.maxRuns).toBe(4); // environment over the file
    expect(config.maxQueue).toBe(7); // flag over both
    expect(config.defaultTimeoutMs).toBe(30_000); // in the flag's unit, seconds
    expect(config.maxBodyBytes).toBe(1024 ** 2);
    expect(config.logLevel).toBe("debug");
    expect(config.smtp).toMatchObject({ host: "mail.example.com", user: "hooks", port: 25 });
    expect(
      resolveServerConfig({ home: mkdtempSync(path.join(os.tmpdir(), "config-none-")) }, {}).configFile,
    ).toBeUndefined();
  });

  it("is JSON when it ends in .json, or the file --config names (which may set the home)", () => {
    const home = homeWith("nbhook.json", JSON.stringify({ port: 6001, metrics: false }));
    expect(resolveServerConfig({ home }, {})).toMatchObject({ port: 6001, metrics: false });
    const other = mkdtempSync(path.join(os.tmpdir(), "config-other-"));
    const given = path.join(other, "elsewhere.toml");
    writeFileSync(given, `home = ${JSON.stringify(other)}\nmetrics_listen = "127.0.0.1:9464"\n`);
    expect(resolveServerConfig({ config: given }, {})).toMatchObject({
      home: other,
      metricsListen: "127.0.0.1:9464",
    });
    expect(resolveServerConfig({}, { NBHOOK_CONFIG: given }).home).toBe(other);
  });

  it("names every bad value at once, each with its key, the file and what it must be", () => {
    const home = homeWith(
      "nbhook.toml",
      'port = "high"\nmax_runs = 0\nlog_level = "loud"\nmax_run = 3\nworker = "yes"\n',
    );
    const file = path.join(home, "nbhook.toml");
    const message = problemsOf(() => resolveServerConfig({ home }, {}));
    expect(message).toContain(`port in ${file} must be a port number from 0 to 65535 (got "high")`);
    expect(message).toContain(`max_runs in ${file} must be a whole number from 1 to 1024 (got "0")`);
    expect(message).toContain(
      `log_level in ${file} must be one of fatal, error, warn, info, debug, trace, silent (got "loud")`,
    );
    expect(message).toContain(`max_run in ${file}: unknown key; the keys are host, port, home,`);
    expect(message).toContain(`worker in ${file} must be true or false (got "\\"yes\\"")`);
    // With the flags' and variables' problems in the same message.
    const all = problemsOf(() => resolveServerConfig({ home, host: "a b" }, { NBHOOK_POOL: "x" }));
    for (const part of ["--host must be", "NBHOOK_POOL must be", `port in ${file} must be`])
      expect(all).toContain(part);
  });

  it("refuses the SMTP password (environment only), a home set in the home's own file, and broken files", () => {
    const secret = homeWith("nbhook.toml", '[smtp]\nhost = "mail.example.com"\npassword = "hunter2"\n');
    expect(problemsOf(() => resolveServerConfig({ home: secret }, {}))).toContain(
      "smtp.password in " +
        path.join(secret, "nbhook.toml") +
        ": the SMTP password is read from NBHOOK_SMTP_PASSWORD only",
    );
    const moving = homeWith("nbhook.toml", 'home = "/elsewhere"\n');
    expect(problemsOf(() => resolveServerConfig({ home: moving }, {}))).toContain(
      "pass the file with --config",
    );
    const broken = homeWith("nbhook.toml", "port = \n");
    expect(problemsOf(() => resolveServerConfig({ home: broken }, {}))).toMatch(
      /nbhook\.toml: not valid TOML: .*2:|1:/,
    );
    const both = homeWith("nbhook.toml", "port = 1\n");
    writeFileSync(path.join(both, "nbhook.json"), "{}");
    expect(problemsOf(() => resolveServerConfig({ home: both }, {}))).toContain("keep one of them");
    expect(problemsOf(() => resolveServerConfig({ config: "/no/such/nbhook.toml" }, {}))).toContain(
      "--config: /no/such/nbhook.toml does not exist",
    );
  });

  it("warns when a file other users may read holds a database password", () => {
    const home = homeWith("nbhook.toml", 'database = "postgres://nbhook:secret@db:5432/nbhook"\n', 0o644);
    chmodSync(path.join(home, "nbhook.toml"), 0o644);
    expect(resolveServerConfig({ home }, {}).configWarnings).toEqual([
      expect.stringContaining(`chmod 600 ${path.join(home, "nbhook.toml")}`),
    ]);
    chmodSync(path.join(home, "nbhook.toml"), 0o600);
    expect(resolveServerConfig({ home }, {}).configWarnings).toEqual([]);
  });
});

describe("logs and metrics settings", () => {
  it("--log-level, NBHOOK_LOG_LEVEL, --log-format; --metrics-listen needs metrics on", () => {
    expect(resolveServerConfig({}, {}).logLevel).toBe("info");
    expect(resolveServerConfig({}, { NBHOOK_LOG_LEVEL: "WARN" }).logLevel).toBe("warn");
    expect(resolveServerConfig({ logLevel: "debug" }, { NBHOOK_LOG_LEVEL: "warn" }).logLevel).toBe("debug");
    expect(resolveServerConfig({ logFormat: "pretty" }, {}).logFormat).toBe("pretty");
    expect(() => resolveServerConfig({ logFormat: "xml" }, {})).toThrow(
      /--log-format must be json or pretty \(got "xml"\)/,
    );
    expect(() => resolveServerConfig({ metricsListen: "9464" }, {})).toThrow(
      /--metrics-listen must be HOST:PORT/,
    );
    expect(resolveServerConfig({ metricsListen: "[::1]:9464" }, {}).metricsListen).toBe("[::1]:9464");
    expect(() => resolveServerConfig({ metricsListen: "127.0.0.1:9464", metrics: false }, {})).toThrow(
      /--metrics-listen serves the metrics that --no-metrics/,
    );
  });
});
