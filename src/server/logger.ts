/**
 * @module The server's logger (docs/operations.md, "Logs"): pino, JSON lines on stdout, or lines
 * for people (pino-pretty, in-process: no worker thread) when stdout is a terminal or the format
 * is forced (`--log-format pretty`). The level comes from `--log-level` / NBHOOK_LOG_LEVEL / the
 * config file (default info).
 */
import type { FastifyBaseLogger } from "fastify";
import { pino, type DestinationStream, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * `false`: no log; `true`: pino's defaults; else pino options, with `stream` as the destination
 * and `format` (default: pretty when stdout is a terminal and no stream is given, else json).
 */
export type LoggerSetting = boolean | (LoggerOptions & { stream?: DestinationStream; format?: LogFormat });

/** The format a logger without an explicit one gets: for people on a terminal, JSON for machines. */
export function defaultLogFormat(stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY ? "pretty" : "json";
}

export function createLogger(setting: LoggerSetting = false): FastifyBaseLogger {
  if (setting === false) return pino({ enabled: false });
  if (setting === true) return pino();
  const { stream, format, ...options } = setting;
  const chosen = format ?? (stream ? "json" : defaultLogFormat());
  if (chosen === "pretty") {
    const destination = stream ?? process.stdout;
    const colorize = !stream && process.stdout.isTTY === true;
    return pino(
      options,
      pretty({
        destination: destination as NodeJS.WritableStream,
        colorize,
        sync: true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
      }),
    );
  }
  return stream ? pino(options, stream) : pino(options);
}
