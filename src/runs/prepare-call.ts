/**
 * @module Preparing a webhook call: the live version, its kernel, the parameters (with their
 * redacted copy). Everything a call can be refused for before it runs is found here, before
 * anything is recorded: a webhook without a version (404), a value that cannot be coerced or is
 * over the limits of what the kernel's language can read (422: nesting, int digits; see
 * notebook/parameters/limits.ts), no kernel for the notebook.
 */
import { AppError } from "../errors.js";
import { chooseKernelSpec, type KernelSpec } from "../kernel/index.js";
import { parseNotebook } from "../notebook/read.js";
import type { Notebook } from "../notebook/types.js";
import type { Store, Webhook } from "../store/index.js";
import { kernelChoiceOf, paramLanguageOf } from "./kernel-choice.js";
import type { PreparedCall, RunLogger } from "./types.js";
import { buildWebhookParameters, redactParameters, type RequestInput } from "./webhook-parameters.js";

export interface PrepareDeps {
  store: Store;
  findSpecs: () => Promise<KernelSpec[]>;
  log: RunLogger;
  /**
   * Calls run on other machines (a cluster's API node): a notebook whose kernel is not installed
   * here is not refused; the kernel the notebook names stands in (the worker chooses its own).
   */
  kernelsElsewhere?: boolean;
}

export async function prepareCall(
  deps: PrepareDeps,
  webhook: Webhook,
  input: RequestInput,
): Promise<PreparedCall> {
  const versionHisto = webhook.liveHisto;
  const bytes = versionHisto ? await deps.store.readVersion(webhook.id, versionHisto) : undefined;
  if (!versionHisto || !bytes) {
    throw new AppError(
      "not-found",
      `the webhook for ${webhook.name} has no deployed version: deploy one with \`nbhook add\``,
    );
  }
  const notebook = parsedVersion(webhook, versionHisto, bytes);
  const specs = await deps.findSpecs();
  const spec = deps.kernelsElsewhere
    ? kernelNamedBy(specs, notebook)
    : chooseKernelSpec(specs, kernelChoiceOf(notebook));
  const base = { webhook, versionHisto, notebook, spec, specs, uploadsDir: input.uploadsDir };
  const language = paramLanguageOf(spec.language);
  if (!language) {
    deps.log.warn(
      { webhook: webhook.path, kernel: spec.name },
      "no parameters injected: nbhook cannot write this kernel's language",
    );
    return { ...base, parameters: {}, redacted: {} };
  }
  const parameters = buildWebhookParameters({
    notebook,
    language,
    addParams: webhook.params,
    request: input,
  });
  return { ...base, language, parameters, redacted: redactParameters(parameters) };
}

/**
 * Deployed versions, parsed: a version's file never changes (a new deployment is a new histo), so
 * its parse is kept, by webhook and histo, for the last {@link PARSED_VERSIONS} versions called.
 * Frozen: every reader of a prepared call's notebook copies it before changing it
 * (executeNotebook, SetupCellError.annotate), and a slip would throw instead of leaking into the
 * next call.
 */
const parsed = new Map<string, { bytes: Buffer; notebook: Notebook }>();
const PARSED_VERSIONS = 64;

function parsedVersion(webhook: Webhook, histo: string, bytes: Buffer): Notebook {
  const key = `${webhook.id}/${histo}`;
  const kept = parsed.get(key);
  // Compared byte for byte (a memcmp, microseconds): a store that ever rewrote a version's file
  // in place still gets what it holds.
  if (kept && kept.bytes.equals(bytes)) {
    parsed.delete(key); // most recently used last
    parsed.set(key, kept);
    return kept.notebook;
  }
  const notebook = deepFreeze(
    parseNotebook(bytes.toString("utf8"), `${webhook.fileName} (version ${histo})`),
  );
  parsed.set(key, { bytes: Buffer.from(bytes), notebook });
  if (parsed.size > PARSED_VERSIONS) parsed.delete(parsed.keys().next().value!);
  return notebook;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** The installed kernel the notebook asks for, else one described by its metadata (see kernelsElsewhere). */
function kernelNamedBy(specs: KernelSpec[], notebook: Notebook): KernelSpec {
  const choice = kernelChoiceOf(notebook);
  try {
    return chooseKernelSpec(specs, choice);
  } catch (err) {
    if (!choice.name && !choice.language) throw err;
    const name = choice.name ?? choice.language!;
    const language = choice.language ?? name;
    return {
      name,
      displayName: name,
      language,
      argv: [],
      env: {},
      interruptMode: "signal",
      resourceDir: "(on the workers)",
    };
  }
}
