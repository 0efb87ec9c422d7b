import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseSecretKey, SecretBox, secretKeyFile } from "./secret-box.js";

const homes: string[] = [];
const home = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "secret-box-"));
  homes.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const key = randomBytes(32);

describe("SecretBox", () => {
  it("seals with AES-256-GCM (random IV each time) and opens only under the same name and webhook", () => {
    const box = new SecretBox({ keyText: key.toString("base64"), clustered: false });
    const a = box.seal("API_KEY", "w1", "the value");
    const b = box.seal("API_KEY", "w1", "the value");
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.includes(Buffer.from("the value"))).toBe(false);
    expect(a.ciphertext.length).toBe(1 + 12 + 16 + "the value".length);
    expect(box.open({ name: "API_KEY", webhookId: "w1", ...a })).toBe("the value");
    expect(() => box.open({ name: "OTHER", webhookId: "w1", ...a })).toThrow(
      /altered or copied from another name/,
    );
    expect(() => box.open({ name: "API_KEY", webhookId: null, ...a })).toThrow(/GCM authentication failed/);
    const tampered = Buffer.from(a.ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    expect(() =>
      box.open({ name: "API_KEY", webhookId: "w1", ciphertext: tampered, keyId: a.keyId }),
    ).toThrow(/cannot be decrypted/);
  });

  it("takes the key in base64 or hex, and names a wrong key plainly", () => {
    const hex = new SecretBox({ keyText: key.toString("hex"), clustered: true });
    const sealed = hex.seal("X", null, "v");
    expect(
      new SecretBox({ keyText: key.toString("base64url"), clustered: true }).open({
        name: "X",
        webhookId: null,
        ...sealed,
      }),
    ).toBe("v");
    const other = new SecretBox({ keyText: randomBytes(32).toString("base64"), clustered: true });
    expect(() => other.open({ name: "X", webhookId: null, ...sealed })).toThrow(
      /the secret X cannot be decrypted: it was set with another secret key \(key id [0-9a-f]{16}\) than this server's NBHOOK_SECRET_KEY/,
    );
    expect(() => parseSecretKey("too short", "NBHOOK_SECRET_KEY")).toThrow(
      "NBHOOK_SECRET_KEY is not a secret key: it must be 32 bytes written in base64 (44 characters) or hex (64); make one with `openssl rand -base64 32`",
    );
    expect(() => parseSecretKey(randomBytes(16).toString("hex"), "K")).toThrow(/32 bytes/);
  });

  it("without NBHOOK_SECRET_KEY makes a 0600 key file in the home at first need, and keeps using it", () => {
    const dir = home();
    const box = new SecretBox({ home: dir, clustered: false });
    const file = secretKeyFile(dir);
    expect(() => statSync(file)).toThrow(); // not before it is needed
    const sealed = box.seal("N", null, "value");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, "utf8").trim(), "base64")).toHaveLength(32);
    expect(
      new SecretBox({ home: dir, clustered: false }).open({ name: "N", webhookId: null, ...sealed }),
    ).toBe("value");
    chmodSync(file, 0o644);
    expect(() => new SecretBox({ home: dir, clustered: false }).seal("N", null, "v")).toThrow(
      `the secret key file ${file} can be read by other users (mode 644): \`chmod 600 ${file}\``,
    );
  });

  it("in a cluster needs NBHOOK_SECRET_KEY on every node (no key file)", () => {
    const dir = home();
    const box = new SecretBox({ home: dir, clustered: true });
    expect(() => box.seal("N", null, "v")).toThrow(
      /secrets need NBHOOK_SECRET_KEY on every node of a cluster .* make one with `openssl rand -base64 32` and set it everywhere/,
    );
    expect(() => statSync(secretKeyFile(dir))).toThrow();
    expect(
      SecretBox.fromEnv(dir, true, { NBHOOK_SECRET_KEY: key.toString("base64") }).seal("N", null, "v").keyId,
    ).toMatch(/^[0-9a-f]{16}$/);
  });
});
