export { KernelClient, type AttachOptions, type ExecuteOptions, type StartOptions } from "./client.js";
export { bundledDenoBinary } from "./bundled-deno.js";
export {
  cachedKernelSpecs,
  chooseKernelSpec,
  findKernelSpecs,
  jupyterDataPaths,
  kernelDirs,
  kernelInstallHelp,
  type KernelDir,
  type KernelChoice,
  type KernelSpec,
} from "./kernelspec.js";
export { contextPreamble, DENO_HELPER_URL, helperPreamble, PYTHON_HELPER_DIR } from "./in-kernel-helpers.js";
export type {
  ExecuteReply,
  IopubOutput,
  JsonObject,
  JsonValue,
  KernelInfoReply,
  KernelMessage,
  KernelMessage as Message,
  MessageOf,
  MimeBundle,
  MsgType,
} from "./messages.js";
export type { ConnectionInfo, KernelExit, LaunchedKernel } from "./types.js";
export { onKernelWarning, type KernelWarning, type KernelWarningListener } from "./warnings.js";
export { KernelPool, type KernelObserver, type PoolOptions, type PoolStats } from "./pool.js";
export { stopForkServers } from "./forkserver.js";
export { prepareKernelRuntimeDir, preparePrivateDir, type KernelRuntimeDir } from "./runtime-dir.js";
