import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { StoredSecret } from "../store/index.js";
import { checkSecretName, RunSecrets, secretValuesIn } from "./run-secrets.js";
import { SecretBox } from "./secret-box.js";

const box = new SecretBox({ keyText: randomBytes(32).toString("base64"), clustered: false });
const stored = (name: string, webhookId: string | null, value: string): StoredSecret => ({
  name,
  webhookId,
  ...box.seal(name, webhookId, value),
  createdAt: "",
  updatedAt: "",
});

describe("RunSecrets", () => {
  it("gives a webhook's runs the global secrets and its own (its own winning), and every value to scrub", async () => {
    // As the store gives them: by name, the global one first.
    const store = {
      secretsFor: async () => [
        stored("DB", null, "global-db"),
        stored("DB", "w1", "own-db"),
        stored("KEY", null, "key-named"),
      ],
    };
    const serverEnv = { NBHOOK_SECRET_OLD: "from-env-1", NBHOOK_SECRET_KEY: "nbhook-own-key", PATH: "/bin" };
    const secrets = await new RunSecrets(store, box, serverEnv).forWebhook("w1");
    expect(secrets.env).toEqual({ NBHOOK_SECRET_DB: "own-db", NBHOOK_SECRET_KEY: "key-named" });
    expect(secrets.values.sort()).toEqual(["from-env-1", "key-named", "own-db"]);
    expect(secretValuesIn({}, serverEnv)).toEqual(["from-env-1"]);
  });

  it("needs no key for a webhook without secrets", async () => {
    const keyless = new SecretBox({ clustered: true });
    expect(await new RunSecrets({ secretsFor: async () => [] }, keyless, {}).forWebhook("w")).toEqual({
      env: {},
      values: [],
    });
  });

  it("takes variable names only", () => {
    expect(() => checkSecretName("OPENAI_KEY")).not.toThrow();
    expect(() => checkSecretName("_x1")).not.toThrow();
    expect(() => checkSecretName("my-key")).toThrow(
      /"my-key" cannot be a secret's name: .* secret.get\("MY_KEY"\)/,
    );
    expect(() => checkSecretName("1ABC")).toThrow(/cannot be a secret's name/);
    expect(() => checkSecretName("A".repeat(129))).toThrow(/at most 128/);
  });
});
