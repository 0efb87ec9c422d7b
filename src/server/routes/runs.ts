import type { FastifyInstance } from "fastify";
import type { ServerDeps } from "../types.js";

export async function registerRunRoutes(_app: FastifyInstance, _deps: ServerDeps): Promise<void> {
  // Routes come in a following commit.
}
