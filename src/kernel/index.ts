export { KernelClient, type ExecuteOptions, type KernelExit, type StartOptions } from "./client.js";
export {
  bundledDenoBinary,
  cachedKernelSpecs,
  chooseKernelSpec,
  findKernelSpecs,
  jupyterDataPaths,
  type KernelChoice,
  type KernelSpec,
} from "./kernelspec.js";
export { contextPreamble, DENO_HELPER_URL, helperPreamble, PYTHON_HELPER_DIR } from "./in-kernel-helpers.js";
export type { ExecuteReply, Message } from "./messages.js";
export { KernelPool, type PoolOptions, type PoolStats } from "./pool.js";
export { stopForkServers } from "./forkserver.js";
