/**
 * @module The run layer: one execution of a notebook (`executeNotebook`, what `nbhook run` uses),
 * and webhook calls end to end behind `Calls` (`EmbeddedCalls` in one process).
 */
export {
  executeNotebook,
  type ProgressEvent,
  type ExecutionOptions,
  type ExecutionResult,
} from "./execute-notebook.js";
export { releaseAnswerFiles } from "./answer-files.js";
export { EmbeddedCalls, type EmbeddedCallsOptions } from "./embedded-calls.js";
export { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
export { freshKernelLease, prepareKernel } from "./kernel-lease.js";
export type { SmtpSettings } from "./notify.js";
export type { RequestBody, RequestInput } from "./webhook-parameters.js";
export { WarmKernels, type WarmOptions } from "./warm-kernels.js";
export type * from "./types.js";
