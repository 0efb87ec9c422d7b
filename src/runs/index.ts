export {
  executeNotebook,
  type ProgressEvent,
  type RunError,
  type RunOptions,
  type RunResult,
  type RunStatus,
} from "./execute-notebook.js";
export { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
export { freshKernelLease, prepareKernel, type KernelLease, type LeaseFn, type LeaseRequest } from "./kernel-lease.js";
