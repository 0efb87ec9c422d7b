/**
 * Server settings. Precedence: defaults < the config file (config-file.ts) < environment < flags.
 * Secrets (SMTP password) come from the environment only. Settings are checked once, here, at
 * start-up: a bad value is a usage error that names the flag, variable or file key it came from,
 * what it must be and what it was, every bad value at once.
 */
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { AppError } from "../errors.js";
import { defaultHome } from "../home.js";
import { DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_OUTPUT_BYTES } from "../notebook/types.js";
import { locateConfigFile, readableByOthers, readConfigFile, type ConfigFile } from "./config-file.js";
import { LOG_FORMATS, LOG_LEVELS } from "./logger.js";
import { parseListenAddress } from "./metrics-listener.js";

/** A host name (`localhost`, `mail.example.com`) or an IPv4/IPv6 address; not a URL. */
function isHost(text: string): boolean {
  return (
    net.isIP(text) !== 0 || (text.length <= 253 && /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(text))
  );
}

/** `nbhook@example.com` or `nbhook <nbhook@example.com>`, as nodemailer takes them. */
function isMailbox(text: string): boolean {
  const address = /<([^<>]*)>$/.exec(text)?.[1] ?? text;
  return /^[^\s@<>"]+@[^\s@<>"]+$/.test(address);
}

const smtpSchema = z.object({
  host: z.string().refine(isHost, "must be a host name or IP address"),
  port: z.number().int().min(1).max(65535),
  secure: z.boolean(),
  user: z.string().optional(),
  password: z.string().optional(),
  from: z.string().refine(isMailbox, "must be an email address"),
});
export type SmtpConfig = z.infer<typeof smtpSchema>;

export const serverConfigSchema = z.object({
  host: z.string().refine(isHost, "must be a host name or IP address"),
  port: z.number().int().min(0).max(65535),
  /** Data folder: SQLite database, notebooks, outputs, the API token. */
  home: z.string().min(1),
  /** Public base URL for webhook links (default http://host:port). */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Largest request body accepted on /notebook (bytes). */
  maxBodyBytes: z.number().int().positive(),
  /** Default run time limit for new webhooks (ms). */
  defaultTimeoutMs: z.number().int().positive(),
  /** Kernels kept started ahead of demand, per kernelspec (0: one fresh kernel per call). */
  poolSize: z.number().int().min(0).max(64),
  /** Notebooks running at once in the server; further calls wait in the queue. */
  maxRuns: z.number().int().min(1).max(1024),
  /** Calls waiting for a free slot at once; beyond that, 503 with Retry-After (0: no queue). */
  maxQueue: z.number().int().min(0).max(100_000),
  /** Free space the home's disk keeps: below it, calls are refused with 507 (0: no check). */
  minFreeBytes: z.number().int().min(0),
  // Answers and outputs (docs/api.md, "Limits"):
  /** The largest answer a notebook may give (a respond_file); inline answers stop at 64 MiB. */
  maxAnswerBytes: z.number().int().min(1),
  /** What the saved notebook keeps of one output (stream text, MIME value); the rest is cut, marked. */
  maxOutputBytes: z.number().int().min(1),
  /** Unset: notifications are logged, not sent. */
  smtp: smtpSchema.optional(),
  /** A Postgres URL: the cluster's store and queue (docs/scaling.md). Unset: SQLite in the home. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/)
    .optional(),
  /** With a database: whether this process also runs calls (false: an API node, `--no-worker`). */
  worker: z.boolean().default(true),
  /** GET /metrics (false: `--no-metrics`). */
  metrics: z.boolean().default(true),
  /** `HOST:PORT`: /metrics there, without a token, instead of on the main port. */
  metricsListen: z
    .string()
    .refine((text) => parseListenAddress(text) !== undefined)
    .optional(),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  /** Unset: pretty when stdout is a terminal, else JSON. */
  logFormat: z.enum(LOG_FORMATS).optional(),
  /** The config file read, if any. */
  configFile: z.string().optional(),
  /** What the operator should know about the settings (printed at start-up). */
  configWarnings: z.array(z.string()).default([]),
  /** NBHOOK_ADMIN_TOKEN (environment only): registered, hashed, as the `admin` API token at start. */
  adminToken: z.string().optional(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

type SettingName = Exclude<
  keyof ServerConfig,
  "smtp" | "worker" | "metrics" | "configFile" | "configWarnings" | "adminToken"
>;

/**
 * What `resolveServerConfig` takes: each setting as its value (from code), or as the text typed
 * after its flag, checked here with the environment so that every bad value is named at once. As
 * text a setting is in its flag's unit: `defaultTimeoutMs: "30"` is `--timeout 30`, 30 seconds.
 */
export type ServerFlags = { [K in SettingName]?: ServerConfig[K] | string } & {
  smtp?: SmtpConfig;
  worker?: boolean;
  metrics?: boolean;
  /** `--config FILE`: the config file to read (else NBHOOK_CONFIG, else the home's). */
  config?: string;
  adminToken?: string;
};

/** One setting: where it comes from, how its text is read, and what it must be (for messages). */
interface Setting<T> {
  flag?: string;
  env?: string;
  /** Its key in the config file; default the flag's name, `-` as `_` (`--max-runs`: `max_runs`). */
  file?: string;
  /** Completes "<flag or variable> must be …". */
  must: string;
  parse: z.ZodType<T, string>;
  /** A value given in code, as the text of its flag (default: String). */
  asText?: (value: number) => string;
  fallback?: () => T;
}

const wholeNumber = z.string().trim().regex(/^\d+$/).transform(Number);

const BYTE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A size in bytes: `500000000`, `500M`, `2GiB`, `1.5g` (k, m, g, t are powers of 1024). */
const byteSize = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*([kmgt](i?b)?|b)?$/i)
  .transform((text) => {
    const [, number, unit = ""] = /^([\d.]+)\s*([kmgt]?)/i.exec(text)!;
    return Math.round(Number(number) * BYTE_UNITS[unit.toLowerCase()]!);
  });
const shape = serverConfigSchema.shape;

const SETTINGS: { [K in SettingName]: Setting<NonNullable<ServerConfig[K]>> } = {
  host: {
    flag: "--host",
    env: "NBHOOK_HOST",
    must: "a host name or IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0",
    parse: z.string().trim().pipe(shape.host),
    fallback: () => "127.0.0.1",
  },
  port: {
    flag: "--port",
    env: "NBHOOK_PORT",
    must: "a port number from 0 to 65535",
    parse: wholeNumber.pipe(shape.port),
    fallback: () => 5000,
  },
  home: {
    flag: "--home",
    env: "NBHOOK_HOME",
    must: "a folder path",
    parse: shape.home.transform((dir) => path.resolve(dir)),
    fallback: () => defaultHome({}),
  },
  baseUrl: {
    flag: "--base-url",
    env: "NBHOOK_BASE_URL",
    must: "an absolute http(s) URL, e.g. https://hooks.example.com",
    parse: z.string().trim().pipe(shape.baseUrl.unwrap()),
  },
  maxBodyBytes: {
    flag: "--max-body",
    must: "a whole number of bytes, at least 1",
    parse: wholeNumber.pipe(shape.maxBodyBytes),
    fallback: () => 10 * 1024 * 1024,
  },
  defaultTimeoutMs: {
    flag: "--timeout",
    must: "a number of seconds greater than 0",
    parse: z
      .string()
      .trim()
      .regex(/^\d+(\.\d+)?$/)
      .transform((seconds) => Math.round(Number(seconds) * 1000))
      .pipe(shape.defaultTimeoutMs),
    asText: (ms) => String(ms / 1000),
    fallback: () => 300_000,
  },
  poolSize: {
    flag: "--pool",
    env: "NBHOOK_POOL",
    must: "a whole number from 0 to 64",
    parse: wholeNumber.pipe(shape.poolSize),
    fallback: () => 2,
  },
  maxRuns: {
    flag: "--max-runs",
    env: "NBHOOK_MAX_RUNS",
    must: "a whole number from 1 to 1024",
    parse: wholeNumber.pipe(shape.maxRuns),
    fallback: defaultMaxRuns,
  },
  maxQueue: {
    flag: "--max-queue",
    env: "NBHOOK_MAX_QUEUE",
    must: "a whole number from 0 to 100000",
    parse: wholeNumber.pipe(shape.maxQueue),
    fallback: () => 64,
  },
  minFreeBytes: {
    flag: "--min-free",
    env: "NBHOOK_MIN_FREE",
    must: "a size such as 100M, 2G or a number of bytes (0: no check)",
    parse: byteSize.pipe(shape.minFreeBytes),
    fallback: () => 100 * 1024 ** 2,
  },
  maxAnswerBytes: {
    flag: "--max-answer",
    env: "NBHOOK_MAX_ANSWER",
    must: "a size of at least 1 byte, such as 1G, 500M or a number of bytes",
    parse: byteSize.pipe(shape.maxAnswerBytes),
    fallback: () => DEFAULT_MAX_ANSWER_BYTES,
  },
  maxOutputBytes: {
    flag: "--max-output",
    env: "NBHOOK_MAX_OUTPUT",
    must: "a size of at least 1 byte, such as 10M, 512k or a number of bytes",
    parse: byteSize.pipe(shape.maxOutputBytes),
    fallback: () => DEFAULT_MAX_OUTPUT_BYTES,
  },
  databaseUrl: {
    flag: "--database",
    env: "NBHOOK_DATABASE_URL",
    must: "a Postgres URL, e.g. postgres://nbhook@db.example.com:5432/nbhook",
    parse: z.string().trim().pipe(shape.databaseUrl.unwrap()),
  },
  metricsListen: {
    flag: "--metrics-listen",
    env: "NBHOOK_METRICS_LISTEN",
    must: "HOST:PORT to serve /metrics on, e.g. 127.0.0.1:9464 or [::1]:9464",
    parse: z.string().trim().pipe(shape.metricsListen.unwrap()),
  },
  logLevel: {
    flag: "--log-level",
    env: "NBHOOK_LOG_LEVEL",
    must: `one of ${LOG_LEVELS.join(", ")}`,
    parse: z.string().trim().toLowerCase().pipe(shape.logLevel.unwrap()),
    fallback: () => "info",
  },
  logFormat: {
    flag: "--log-format",
    env: "NBHOOK_LOG_FORMAT",
    must: "json or pretty",
    parse: z.string().trim().toLowerCase().pipe(shape.logFormat.unwrap()),
  },
};

const SMTP = {
  host: {
    env: "NBHOOK_SMTP_HOST",
    file: "smtp.host",
    must: "the mail server's host name or IP address",
    parse: z.string().trim().pipe(smtpSchema.shape.host),
  },
  port: {
    env: "NBHOOK_SMTP_PORT",
    file: "smtp.port",
    must: "a port number from 1 to 65535",
    parse: wholeNumber.pipe(smtpSchema.shape.port),
  },
  secure: {
    env: "NBHOOK_SMTP_SECURE",
    file: "smtp.secure",
    must: "true or false",
    parse: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(["true", "false"]))
      .transform((text) => text === "true"),
  },
  from: {
    env: "NBHOOK_SMTP_FROM",
    file: "smtp.from",
    must: 'an email address, e.g. nbhook@example.com or "nbhook <nbhook@example.com>"',
    parse: z.string().trim().pipe(smtpSchema.shape.from),
  },
} satisfies Record<string, Setting<unknown>>;

/** A setting's key in the config file. */
function fileKey(setting: Setting<unknown>): string | undefined {
  return setting.file ?? setting.flag?.replace(/^--/, "").replaceAll("-", "_");
}

/** The settings' keys in the config file, and the booleans read apart. */
const FILE_KEYS = new Set([
  ...Object.values(SETTINGS).map((setting) => fileKey(setting as Setting<unknown>)!),
  ...Object.values(SMTP).map((setting) => setting.file),
  "smtp.user",
  "worker",
  "metrics",
]);

/** Where a value of the file is named in messages: `key` in `file`. */
function inFile(file: ConfigFile, key: string): string {
  return `${key} in ${file.path}`;
}

/**
 * The value of one setting: the flag's if given, else the variable's (an empty one counts as
 * unset), else the config file's, else undefined. A bad value is added to `problems`, and
 * undefined returned.
 */
function read<T>(
  setting: Setting<T>,
  given: number | string | undefined,
  env: NodeJS.ProcessEnv,
  problems: string[],
  file?: ConfigFile,
): T | undefined {
  let source: string;
  let text: string;
  const key = fileKey(setting as Setting<unknown>);
  if (given !== undefined && setting.flag) {
    source = setting.flag;
    text = typeof given === "number" ? (setting.asText ?? String)(given) : given;
  } else if (setting.env && env[setting.env]) {
    source = setting.env;
    text = env[setting.env]!;
  } else if (file && key && file.values.has(key)) {
    source = inFile(file, key);
    const value = file.values.get(key);
    // In the flag's unit, as its text would be: `timeout = 30` is `--timeout 30`.
    text =
      typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "boolean"
          ? String(value)
          : JSON.stringify(value);
  } else {
    return setting.fallback?.();
  }
  const parsed = setting.parse.safeParse(text);
  if (parsed.success) return parsed.data;
  problems.push(`${source} must be ${setting.must} (got ${quote(text)})`);
  return undefined;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function usageError(problems: string[]): AppError {
  return new AppError("usage", problems.join("; "));
}

/** `--max-runs` default: one run per CPU core, at least 2. */
export function defaultMaxRuns(): number {
  return Math.max(2, os.availableParallelism());
}

/**
 * SMTP settings from NBHOOK_SMTP_HOST, _PORT, _SECURE, _USER, _PASSWORD, _FROM; undefined without
 * a host (then the others are not read).
 */
function readSmtp(env: NodeJS.ProcessEnv, problems: string[], file?: ConfigFile): SmtpConfig | undefined {
  if (!env.NBHOOK_SMTP_HOST && !file?.values.has("smtp.host")) return undefined;
  const before = problems.length;
  const host = read(SMTP.host, undefined, env, problems, file);
  const port = read(SMTP.port, undefined, env, problems, file) ?? 25;
  const secure = read(SMTP.secure, undefined, env, problems, file) ?? port === 465;
  const from = read(SMTP.from, undefined, env, problems, file) ?? `nbhook@${os.hostname()}`;
  const fileUser = file?.values.get("smtp.user");
  if (fileUser !== undefined && typeof fileUser !== "string") {
    problems.push(
      `${inFile(file!, "smtp.user")} must be the SMTP user name, as a string (got ${quote(JSON.stringify(fileUser))})`,
    );
  }
  if (problems.length > before || host === undefined) return undefined;
  return {
    host,
    port,
    secure,
    from,
    user: env.NBHOOK_SMTP_USER || (typeof fileUser === "string" && fileUser) || undefined,
    password: env.NBHOOK_SMTP_PASSWORD || undefined,
  };
}

/** A boolean of the file (`worker`, `metrics`); a value that is not one is a problem. */
function fileBoolean(file: ConfigFile | undefined, key: string, problems: string[]): boolean | undefined {
  if (!file?.values.has(key)) return undefined;
  const value = file.values.get(key);
  if (typeof value === "boolean") return value;
  problems.push(`${inFile(file, key)} must be true or false (got ${quote(JSON.stringify(value))})`);
  return undefined;
}

/**
 * The config file, when there is one, checked for what no setting reads: unknown keys, the SMTP
 * password (environment only), `home` in the home's own file.
 */
function loadFile(
  flags: ServerFlags,
  env: NodeJS.ProcessEnv,
  problems: string[],
  warnings: string[],
): ConfigFile | undefined {
  const homeProblems: string[] = [];
  const home = read(SETTINGS.home, flags.home, env, homeProblems) ?? defaultHome({});
  const location = locateConfigFile(flags.config, env, home, problems);
  if (!location) return undefined;
  const file = readConfigFile(location, problems);
  if (!file) return undefined;
  for (const key of file.values.keys()) {
    if (key === "smtp.password") {
      problems.push(
        `${inFile(file, key)}: the SMTP password is read from NBHOOK_SMTP_PASSWORD only, so that it stays out of ` +
          "config files: remove it from the file and set the variable",
      );
    } else if (key === "home" && !file.given) {
      problems.push(
        `${inFile(file, key)}: this file is found through the home, so it cannot move it: remove the key, or pass ` +
          "the file with --config",
      );
    } else if (!FILE_KEYS.has(key)) {
      problems.push(`${inFile(file, key)}: unknown key; the keys are ${[...FILE_KEYS].join(", ")}`);
    }
  }
  const database = file.values.get("database");
  if (
    typeof database === "string" &&
    /^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(database) &&
    readableByOthers(file.path)
  ) {
    warnings.push(
      `${file.path} holds a database password and other users may read it: chmod 600 ${file.path}, ` +
        "or set NBHOOK_DATABASE_URL instead",
    );
  }
  return file;
}

/** SMTP settings from the environment (see readSmtp); a bad value is a usage error. */
export function smtpFromEnv(env: NodeJS.ProcessEnv = process.env): SmtpConfig | undefined {
  const problems: string[] = [];
  const smtp = readSmtp(env, problems);
  if (problems.length > 0) throw usageError(problems);
  return smtp;
}

/**
 * The server's settings from `flags` (typed values from code, or the flags' text) over the
 * environment over the defaults. Throws AppError("usage") naming every bad value.
 */
export function resolveServerConfig(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const file = loadFile(flags, env, problems, warnings);
  const get = <K extends SettingName>(name: K) =>
    read<NonNullable<ServerConfig[K]>>(SETTINGS[name], flags[name], env, problems, file);
  const config = {
    host: get("host"),
    port: get("port"),
    home: get("home"),
    baseUrl: get("baseUrl"),
    maxBodyBytes: get("maxBodyBytes"),
    defaultTimeoutMs: get("defaultTimeoutMs"),
    poolSize: get("poolSize"),
    maxRuns: get("maxRuns"),
    maxQueue: get("maxQueue"),
    minFreeBytes: get("minFreeBytes"),
    maxAnswerBytes: get("maxAnswerBytes"),
    maxOutputBytes: get("maxOutputBytes"),
    smtp: flags.smtp ?? readSmtp(env, problems, file),
    databaseUrl: get("databaseUrl"),
    worker: flags.worker ?? fileBoolean(file, "worker", problems) ?? true,
    metrics: flags.metrics ?? fileBoolean(file, "metrics", problems) ?? true,
    metricsListen: get("metricsListen"),
    logLevel: get("logLevel"),
    logFormat: get("logFormat"),
    configFile: file?.path,
    configWarnings: warnings,
    adminToken: flags.adminToken ?? (env.NBHOOK_ADMIN_TOKEN || undefined),
  };
  if (config.metrics === false && config.metricsListen) {
    problems.push(
      "--metrics-listen serves the metrics that --no-metrics (or metrics = false) turns off: drop one of them",
    );
  }
  if (config.worker === false && !config.databaseUrl) {
    problems.push("--no-worker needs --database (an API node hands its calls to workers through Postgres)");
  }
  if (problems.length > 0) throw usageError(problems);
  // Every setting read without a problem; the schema states the result's type (and checks `smtp`
  // when given in code).
  return serverConfigSchema.parse(config);
}
