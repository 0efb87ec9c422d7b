/**
 * @module Operations routes (docs/operations.md): `GET /healthz` (and its older name `/health`):
 * the process answers; `GET /readyz`: it can take a call now (readiness.ts), unauthenticated
 * both, for load balancers and orchestrators; `GET /metrics`: Prometheus text (metrics.ts), behind
 * the API token (scope `read`), unless served on its own address (`--metrics-listen`) or off.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { errorBody } from "../http-errors.js";
import type { Metrics } from "../metrics.js";
import { routeSchema } from "../openapi.js";
import { checkReadiness, type ReadinessSources } from "../readiness.js";

const healthSchema = z.object({ status: z.literal("ok") });

const checkSchema = z.object({
  name: z.enum(["store", "kernels", "workers", "server"]),
  ok: z.boolean(),
  message: z.string(),
});

const readySchema = z.object({ status: z.literal("ready"), checks: z.array(checkSchema) });

const notReadySchema = z.object({
  error: z.literal("not-ready"),
  message: z.string(),
  checks: z.array(checkSchema),
});

export interface OpsRoutesOptions {
  readiness: ReadinessSources;
  /** Served on the main port (behind the API token); undefined: not here (off, or on its own address). */
  metrics?: Metrics;
}

export async function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): Promise<void> {
  const health = (summary: string, description: string) => ({
    schema: routeSchema({
      summary,
      description,
      tags: ["server"],
      open: true,
      responses: { 200: healthSchema },
    }),
  });
  const ok = async () => ({ status: "ok" as const });
  app.get(
    "/healthz",
    health(
      "Whether the process answers (liveness)",
      "Answers as long as the process runs its event loop; checks nothing else (see /readyz).",
    ),
    ok,
  );
  app.get(
    "/health",
    health("Whether the process answers (older name of /healthz)", "The same as /healthz."),
    ok,
  );

  app.get(
    "/readyz",
    {
      schema: routeSchema({
        summary: "Whether this node can take a webhook call now (readiness)",
        description:
          "Checks that the database answers, that a kernel can be had (a pooled one is ready, or a kernelspec is " +
          "installed and starts) where calls run in this process, and on a cluster API node without a worker that " +
          "at least one worker is alive. 503 names what failed and what to do.",
        tags: ["server"],
        open: true,
        responses: {
          200: readySchema,
          503: {
            description: "`not-ready`: each check, and what to do about the failed ones",
            schema: notReadySchema,
          },
        },
      }),
    },
    async (_request, reply) => {
      const { ready, checks } = await checkReadiness(options.readiness);
      if (ready) return { status: "ready" as const, checks };
      const failed = checks.filter((check) => !check.ok);
      const err = new AppError(
        "not-ready",
        `not ready: ${failed.map((check) => `${check.name}: ${check.message}`).join("; ")}`,
      );
      return reply.code(503).header("cache-control", "no-store").send(errorBody(err, { checks }));
    },
  );

  const metrics = options.metrics;
  if (metrics) {
    app.get(
      "/metrics",
      {
        // For the scoped tokens (issue 12, "Tokens"): a `read` token may scrape.
        config: { scope: "read" },
        schema: routeSchema({
          summary: "Prometheus metrics",
          description:
            "Calls by webhook id and status, run and queue-wait histograms, queue length, kernels by state, kernel " +
            'starts and deaths, HTTP requests by route pattern (docs/operations.md, "Metrics"). Needs the API token; ' +
            "`--metrics-listen` serves it on its own address instead, `--no-metrics` turns it off.",
          tags: ["server"],
          responses: {
            200: { description: "Prometheus text exposition format 0.0.4", contentTypes: ["text/plain"] },
          },
        }),
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );
  }
}
