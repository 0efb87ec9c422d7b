/**
 * @module The secrets a webhook's runs get (docs/secrets.md): the global ones and the webhook's
 * own (its own wins over a global one of the same name), decrypted at run time by whoever runs
 * the call, and given to the kernel as `NBHOOK_SECRET_<NAME>` variables, which `nbhook.secret.get`
 * / `naas.secret.get` read. Also the values to scrub from what the run produced: those, and the
 * `NBHOOK_SECRET_*` variables of the server's own environment (secrets given the old way).
 */
import { AppError } from "../errors.js";
import type { Store } from "../store/index.js";
import { SECRET_KEY_ENV, type SecretBox } from "./secret-box.js";

/** The prefix of a secret's variable in a kernel's environment. */
export const SECRET_ENV_PREFIX = "NBHOOK_SECRET_";

/** A secret's name: a variable name (letters, digits, `_`; not starting with a digit), at most 128 characters. */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new AppError(
      "usage",
      `"${name}" cannot be a secret's name: use letters, digits and _ (not starting with a digit), at most 128 characters, ` +
        `e.g. OPENAI_KEY; the notebook reads it with secret.get("${name.replace(/[^A-Za-z0-9_]/g, "_").toUpperCase() || "NAME"}")`,
    );
  }
}

export interface WebhookSecrets {
  /** `NBHOOK_SECRET_<NAME>` → value. */
  env: Record<string, string>;
  /** Every secret value a run of this webhook may print (stored ones and the server's own), to scrub. */
  values: string[];
}

export class RunSecrets {
  /**
   * The server's own NBHOOK_SECRET_* values, read once: the environment the server started with
   * (reading every variable of process.env costs ~0.06 ms, on every call).
   */
  private serverValues?: string[];

  constructor(
    private readonly store: Pick<Store, "secretsFor">,
    private readonly box: SecretBox,
    private readonly serverEnv: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Decrypts the secrets of `webhookId`'s runs (no key is needed when there are none). */
  async forWebhook(webhookId: string): Promise<WebhookSecrets> {
    const env: Record<string, string> = {};
    // Globals come first from the store, so the webhook's own value of a name replaces them.
    for (const secret of await this.store.secretsFor(webhookId)) {
      env[SECRET_ENV_PREFIX + secret.name] = this.box.open(secret);
    }
    this.serverValues ??= secretValuesIn({}, this.serverEnv);
    const values = new Set(secretValuesIn(env, {}));
    for (const value of this.serverValues) values.add(value);
    return { env, values: [...values] };
  }
}

/** The secret values in a kernel environment (its NBHOOK_SECRET_* variables) and the server's own. */
export function secretValuesIn(
  env: Record<string, string>,
  serverEnv: NodeJS.ProcessEnv = process.env,
): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(SECRET_ENV_PREFIX) && value) values.add(value); // a stored secret named KEY too
  }
  for (const [name, value] of Object.entries(serverEnv)) {
    // The server's NBHOOK_SECRET_KEY is nbhook's own: kernels never get it.
    if (name.startsWith(SECRET_ENV_PREFIX) && name !== SECRET_KEY_ENV && value) values.add(value);
  }
  return [...values];
}
