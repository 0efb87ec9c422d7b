export { KernelClient, type ExecuteOptions, type KernelExit, type StartOptions } from "./client.js";
export {
  bundledDenoBinary,
  chooseKernelSpec,
  findKernelSpecs,
  jupyterDataPaths,
  type KernelChoice,
  type KernelSpec,
} from "./kernelspec.js";
export { PYTHON_HELPER_DIR } from "./launch.js";
export type { ExecuteReply, Message } from "./messages.js";
