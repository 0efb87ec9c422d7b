/**
 * @module What the kernel side of calls is built with wherever calls run (the embedded server, a
 * cluster's worker): the server's settings, and the home's private folders for kernels and answer
 * files, made (and swept of what the last stop left) here.
 */
import path from "node:path";
import { prepareKernelRuntimeDir, preparePrivateDir, type KernelObserver } from "../kernel/index.js";
import type { Links, RunLogger } from "../runs/index.js";
import type { RunEngineOptions } from "../runs/run-engine.js";
import { RunSecrets } from "../runs/run-secrets.js";
import { SecretBox } from "../runs/secret-box.js";
import type { Store } from "../store/index.js";
import { answerFor } from "./call-answer.js";
import type { ServerConfig } from "./config.js";

export async function runEngineOptions(
  config: ServerConfig,
  store: Store,
  links: Links,
  log: RunLogger,
  kernelObserver?: KernelObserver,
): Promise<RunEngineOptions> {
  const kernels = await prepareKernelRuntimeDir(config.home);
  const answers = await preparePrivateDir(path.join(config.home, "answers"));
  if (kernels.swept + answers.swept > 0) {
    log.warn(
      { kernels: kernels.swept, answers: answers.swept },
      "kernel folders and answer copies left by the last stop were removed",
    );
  }
  return {
    store,
    links,
    answerFor,
    log,
    poolSize: config.poolSize,
    smtp: config.smtp,
    kernelRuntimeDir: kernels.dir,
    kernelObserver,
    // The key is read when a run first needs a stored secret (NBHOOK_SECRET_KEY, else the home's key file).
    secrets: new RunSecrets(store, SecretBox.fromEnv(config.home, Boolean(config.databaseUrl))),
    limits: {
      maxOutputBytes: config.maxOutputBytes,
      maxAnswerBytes: config.maxAnswerBytes,
      answerDir: answers.dir,
    },
  };
}
