/**
 * Warnings of the kernel layer: things that do not stop a run but that whoever runs nbhook should
 * hear about (a broken kernel.json that is skipped, the fork server falling back to spawning).
 * The server subscribes and logs them; with nobody subscribed (the CLI, tests) they go to
 * process.emitWarning, so they are never lost.
 */

export interface KernelWarning {
  code: "kernelspec-invalid" | "forkserver-fallback" | "forkserver-no-template" | "runtime-dir-too-long";
  /** What happened and what to do, in one sentence or two. */
  message: string;
  /** The file concerned, when there is one (the kernel.json). */
  file?: string;
}

export type KernelWarningListener = (warning: KernelWarning) => void;

const listeners = new Set<KernelWarningListener>();

/** Subscribes to kernel warnings; returns the function that unsubscribes. */
export function onKernelWarning(listener: KernelWarningListener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** process.emitWarning codes, as before the listeners existed. */
const EMIT_CODES: Record<KernelWarning["code"], string> = {
  "kernelspec-invalid": "NBHOOK_KERNELSPEC",
  "forkserver-fallback": "NBHOOK_FORKSERVER",
  "forkserver-no-template": "NBHOOK_FORKSERVER",
  "runtime-dir-too-long": "NBHOOK_RUNTIME_DIR",
};

export function warnKernel(warning: KernelWarning): void {
  if (listeners.size === 0) {
    process.emitWarning(warning.message, { code: EMIT_CODES[warning.code] });
    return;
  }
  for (const listener of listeners) {
    try {
      listener(warning);
    } catch {
      // A failing logger must not break a kernel launch or a kernelspec scan.
    }
  }
}
