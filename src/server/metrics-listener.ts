/**
 * @module `--metrics-listen HOST:PORT`: /metrics on an address of its own, without a token, for a
 * private network (a Prometheus beside the server, a port no proxy forwards). Only `GET /metrics`
 * (and HEAD) is answered there; everything else is 404. Plain node:http: one route needs no app.
 */
import http from "node:http";
import { AppError } from "../errors.js";
import type { Metrics } from "./metrics.js";

export interface MetricsListener {
  /** `http://host:port`, as bound (port 0 gives a free one). */
  url: string;
  close(): Promise<void>;
}

/** `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`: host and port, or undefined when malformed. */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

export async function listenMetrics(
  address: { host: string; port: number },
  metrics: Metrics,
  log: { error(obj: object, msg?: string): void },
): Promise<MetricsListener> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "application/json; charset=utf-8" });
      response.end(JSON.stringify({ error: "not-found", message: "this address serves GET /metrics only" }));
      return;
    }
    metrics.text().then(
      (text) => {
        response.writeHead(200, { "content-type": metrics.contentType });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, "could not collect the metrics");
        response.writeHead(500, { "content-type": "application/json; charset=utf-8" });
        response.end(
          JSON.stringify({
            error: "internal",
            message: "the metrics could not be collected: see the server log",
          }),
        );
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE" || err.code === "EACCES" || err.code === "EADDRNOTAVAIL"
          ? new AppError(
              "usage",
              `cannot listen on ${address.host}:${address.port} for --metrics-listen (${err.code}): choose another address`,
              { cause: err },
            )
          : err,
      );
    });
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === "object" && bound ? bound.port : address.port;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
