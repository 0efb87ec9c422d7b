/**
 * Server settings. Precedence: defaults (which read the environment) < flags. Secrets (SMTP
 * password) come from the environment only.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";

const smtpSchema = z.object({
  host: z.string(),
  port: z.number().int().positive(),
  secure: z.boolean(),
  user: z.string().optional(),
  password: z.string().optional(),
  from: z.string(),
});
export type SmtpConfig = z.infer<typeof smtpSchema>;

export const serverConfigSchema = z.object({
  host: z.string(),
  port: z.number().int().min(0).max(65535),
  /** Data folder: SQLite database, notebooks, outputs, the API token. */
  home: z.string(),
  /** Public base URL for webhook links (default http://host:port). */
  baseUrl: z.string().url().optional(),
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
  /** Unset: notifications are logged, not sent. */
  smtp: smtpSchema.optional(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** `--max-runs` default: one run per CPU core, at least 2. */
export function defaultMaxRuns(): number {
  return Math.max(2, os.availableParallelism());
}

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.NBHOOK_HOME || path.join(os.homedir(), ".nbhook");
}

/** SMTP settings from NBHOOK_SMTP_HOST, _PORT, _SECURE, _USER, _PASSWORD, _FROM. */
export function smtpFromEnv(env: NodeJS.ProcessEnv = process.env): SmtpConfig | undefined {
  if (!env.NBHOOK_SMTP_HOST) return undefined;
  const port = Number(env.NBHOOK_SMTP_PORT ?? 25);
  return smtpSchema.parse({
    host: env.NBHOOK_SMTP_HOST,
    port,
    secure: env.NBHOOK_SMTP_SECURE ? env.NBHOOK_SMTP_SECURE === "true" : port === 465,
    user: env.NBHOOK_SMTP_USER || undefined,
    password: env.NBHOOK_SMTP_PASSWORD || undefined,
    from: env.NBHOOK_SMTP_FROM ?? `nbhook@${os.hostname()}`,
  });
}

export function resolveServerConfig(
  flags: Partial<ServerConfig>,
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  return serverConfigSchema.parse({
    host: flags.host ?? env.NBHOOK_HOST ?? "127.0.0.1",
    port: flags.port ?? Number(env.NBHOOK_PORT ?? 5000),
    home: path.resolve(flags.home ?? defaultHome(env)),
    baseUrl: flags.baseUrl ?? env.NBHOOK_BASE_URL ?? undefined,
    maxBodyBytes: flags.maxBodyBytes ?? 10 * 1024 * 1024,
    defaultTimeoutMs: flags.defaultTimeoutMs ?? 300_000,
    poolSize: flags.poolSize ?? Number(env.NBHOOK_POOL ?? 2),
    maxRuns: flags.maxRuns ?? (env.NBHOOK_MAX_RUNS ? Number(env.NBHOOK_MAX_RUNS) : defaultMaxRuns()),
    maxQueue: flags.maxQueue ?? Number(env.NBHOOK_MAX_QUEUE ?? 64),
    smtp: flags.smtp ?? smtpFromEnv(env),
  });
}
