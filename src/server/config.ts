/**
 * Server settings. Precedence: defaults (which read the environment) < flags. Secrets (SMTP
 * password) come from the environment only. Settings are checked once, here, at start-up: a bad
 * value is a usage error that names the flag or variable it came from, what it must be and what it
 * was, every bad value at once.
 */
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { AppError } from "../errors.js";
import { defaultHome } from "../home.js";
import { DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_OUTPUT_BYTES } from "../notebook/types.js";

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
  /** NBHOOK_ADMIN_TOKEN (environment only): registered, hashed, as the `admin` API token at start. */
  adminToken: z.string().optional(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

type SettingName = Exclude<keyof ServerConfig, "smtp" | "worker" | "adminToken">;

/**
 * What `resolveServerConfig` takes: each setting as its value (from code), or as the text typed
 * after its flag, checked here with the environment so that every bad value is named at once. As
 * text a setting is in its flag's unit: `defaultTimeoutMs: "30"` is `--timeout 30`, 30 seconds.
 */
export type ServerFlags = { [K in SettingName]?: ServerConfig[K] | string } & {
  smtp?: SmtpConfig;
  worker?: boolean;
  adminToken?: string;
};

/** One setting: where it comes from, how its text is read, and what it must be (for messages). */
interface Setting<T> {
  flag?: string;
  env?: string;
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
};

const SMTP = {
  host: {
    env: "NBHOOK_SMTP_HOST",
    must: "the mail server's host name or IP address",
    parse: z.string().trim().pipe(smtpSchema.shape.host),
  },
  port: {
    env: "NBHOOK_SMTP_PORT",
    must: "a port number from 1 to 65535",
    parse: wholeNumber.pipe(smtpSchema.shape.port),
  },
  secure: {
    env: "NBHOOK_SMTP_SECURE",
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
    must: 'an email address, e.g. nbhook@example.com or "nbhook <nbhook@example.com>"',
    parse: z.string().trim().pipe(smtpSchema.shape.from),
  },
} satisfies Record<string, Setting<unknown>>;

/**
 * The value of one setting: the flag's if given, else the variable's (an empty one counts as
 * unset), else undefined. A bad value is added to `problems`, and undefined returned.
 */
function read<T>(
  setting: Setting<T>,
  given: number | string | undefined,
  env: NodeJS.ProcessEnv,
  problems: string[],
): T | undefined {
  let source: string;
  let text: string;
  if (given !== undefined && setting.flag) {
    source = setting.flag;
    text = typeof given === "number" ? (setting.asText ?? String)(given) : given;
  } else if (setting.env && env[setting.env]) {
    source = setting.env;
    text = env[setting.env]!;
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
function readSmtp(env: NodeJS.ProcessEnv, problems: string[]): SmtpConfig | undefined {
  if (!env.NBHOOK_SMTP_HOST) return undefined;
  const before = problems.length;
  const host = read(SMTP.host, undefined, env, problems);
  const port = read(SMTP.port, undefined, env, problems) ?? 25;
  const secure = read(SMTP.secure, undefined, env, problems) ?? port === 465;
  const from = read(SMTP.from, undefined, env, problems) ?? `nbhook@${os.hostname()}`;
  if (problems.length > before || host === undefined) return undefined;
  return {
    host,
    port,
    secure,
    from,
    user: env.NBHOOK_SMTP_USER || undefined,
    password: env.NBHOOK_SMTP_PASSWORD || undefined,
  };
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
  const get = <K extends SettingName>(name: K) =>
    read<NonNullable<ServerConfig[K]>>(SETTINGS[name], flags[name], env, problems);
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
    smtp: flags.smtp ?? readSmtp(env, problems),
    databaseUrl: get("databaseUrl"),
    worker: flags.worker ?? true,
    adminToken: flags.adminToken ?? (env.NBHOOK_ADMIN_TOKEN || undefined),
  };
  if (flags.worker === false && !config.databaseUrl) {
    problems.push("--no-worker needs --database (an API node hands its calls to workers through Postgres)");
  }
  if (problems.length > 0) throw usageError(problems);
  // Every setting read without a problem; the schema states the result's type (and checks `smtp`
  // when given in code).
  return serverConfigSchema.parse(config);
}
