/**
 * A server's JSON log lines, kept in memory: pass `stream` as the logger's destination
 * (`startServer(config, { logger: { level: "info", stream } })`) and read `lines`.
 */
import { Writable } from "node:stream";

export function captureLog(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, stream };
}
