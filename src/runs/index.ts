export {
  executeNotebook,
  type ProgressEvent,
  type RunError,
  type RunOptions,
  type RunResult,
  type RunStatus,
} from "./execute-notebook.js";
export { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
