/**
 * What a notebook says about its kernel, and which parameter language a kernel speaks.
 */
import type { KernelChoice } from "../kernel/index.js";
import type { Notebook, ParamLanguage } from "../notebook/types.js";

export function kernelChoiceOf(nb: Notebook): KernelChoice {
  const meta = nb.metadata as {
    kernelspec?: { name?: unknown; language?: unknown };
    language_info?: { name?: unknown };
  };
  const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  return {
    name: str(meta.kernelspec?.name),
    language: str(meta.kernelspec?.language) ?? str(meta.language_info?.name),
  };
}

const LANGUAGES: Record<string, ParamLanguage> = {
  python: "python",
  python3: "python",
  r: "r",
  julia: "julia",
  javascript: "javascript",
  typescript: "typescript",
};

export function paramLanguageOf(kernelLanguage: string): ParamLanguage | undefined {
  return LANGUAGES[kernelLanguage.toLowerCase()];
}
