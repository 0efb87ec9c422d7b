/**
 * @module The encryption of secrets (docs/secrets.md): AES-256-GCM from node:crypto, a random
 * 12-byte IV per value, the 16-byte auth tag, and the secret's name and webhook id as additional
 * authenticated data, so that a ciphertext copied to another name or webhook does not open. The
 * store holds only what this module sealed; values exist in clear only in the server's memory and
 * in the kernels of the runs that get them.
 *
 * It lives in runs/ because both sides need it: the management API seals (server/routes/secrets.ts)
 * and whoever runs a call opens — this process, or a cluster worker, which has no server/ part.
 *
 * The key: NBHOOK_SECRET_KEY (32 bytes, base64 or hex), else the file `<home>/secret-key`
 * (mode 0600, made at first need). In a cluster every node needs the same key, so there the
 * variable is required: a key file made on one node would not be on the others. The key is read
 * at first use, so a server whose notebooks use no stored secret needs none.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AppError } from "../errors.js";

export const SECRET_KEY_ENV = "NBHOOK_SECRET_KEY";
const KEY_FILE = "secret-key";
const MAKE_ONE = "make one with `openssl rand -base64 32`";

/** Format byte, then IV, tag, ciphertext. */
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key file of a home (a single-node server's key when NBHOOK_SECRET_KEY is not set). */
export function secretKeyFile(home: string): string {
  return path.join(home, KEY_FILE);
}

export interface SecretKeyOptions {
  /** NBHOOK_SECRET_KEY's value, if set. */
  keyText?: string;
  /** The server's home, where the key file is (embedded store only). */
  home?: string;
  /** A cluster (a database URL): the key must come from NBHOOK_SECRET_KEY, the same on every node. */
  clustered: boolean;
}

interface Key {
  bytes: Buffer;
  /** A fingerprint of the key (not the key): which key sealed a secret. */
  id: string;
  /** Where it came from, for messages. */
  where: string;
}

/** Reads a key written as base64 (standard or url-safe) or hex; throws a message naming `where`. */
export function parseSecretKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) bytes = Buffer.from(trimmed, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) bytes = Buffer.from(trimmed, "base64");
  if (!bytes || bytes.length !== 32) {
    throw new AppError(
      "secret-key",
      `${where} is not a secret key: it must be 32 bytes written in base64 (44 characters) or hex (64); ${MAKE_ONE}`,
    );
  }
  return bytes;
}

function keyId(bytes: Buffer): string {
  return createHash("sha256").update("nbhook secret key id\0").update(bytes).digest("hex").slice(0, 16);
}

function aad(name: string, webhookId: string | null): Buffer {
  return Buffer.from(`nbhook secret\0${name}\0${webhookId ?? ""}`, "utf8");
}

export class SecretBox {
  private key?: Key;

  constructor(private readonly options: SecretKeyOptions) {}

  /** From the process environment and the server's home. */
  static fromEnv(
    home: string | undefined,
    clustered: boolean,
    env: NodeJS.ProcessEnv = process.env,
  ): SecretBox {
    const keyText = env[SECRET_KEY_ENV];
    return new SecretBox({ keyText: keyText === "" ? undefined : keyText, home, clustered });
  }

  /** Whether a key is given by the environment (a cluster needs one on every node). */
  get hasKeyFromEnv(): boolean {
    return this.options.keyText !== undefined;
  }

  /** Encrypts a secret's value for the store. */
  seal(name: string, webhookId: string | null, value: string): { ciphertext: Buffer; keyId: string } {
    const key = this.loadKey();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key.bytes, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(name, webhookId));
    const encrypted = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
    const ciphertext = Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), encrypted]);
    return { ciphertext, keyId: key.id };
  }

  /** Decrypts a stored secret; a wrong key or an altered or moved ciphertext is an error saying which. */
  open(secret: { name: string; webhookId: string | null; ciphertext: Buffer; keyId: string }): string {
    const key = this.loadKey();
    const { ciphertext } = secret;
    const what = `the secret ${secret.name}${secret.webhookId ? ` of webhook ${secret.webhookId}` : ""}`;
    if (ciphertext[0] !== FORMAT || ciphertext.length < 1 + IV_BYTES + TAG_BYTES) {
      throw new AppError(
        "secret-key",
        `${what} is damaged in the store: set it again (\`nbhook secrets set\`)`,
      );
    }
    try {
      const iv = ciphertext.subarray(1, 1 + IV_BYTES);
      const tag = ciphertext.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
      const decipher = createDecipheriv("aes-256-gcm", key.bytes, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(secret.name, secret.webhookId));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(ciphertext.subarray(1 + IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new AppError(
        "secret-key",
        secret.keyId !== key.id
          ? `${what} cannot be decrypted: it was set with another secret key (key id ${secret.keyId}) than ` +
              `this server's ${key.where} (key id ${key.id}). Give this server the key the secrets were set with ` +
              `(the same NBHOOK_SECRET_KEY on every node of a cluster), or set the secret again`
          : `${what} cannot be decrypted with this server's key (${key.where}; GCM authentication failed): ` +
              `its ciphertext was altered or copied from another name; set it again`,
      );
    }
  }

  /** The key id this server seals with (reads or makes the key). */
  currentKeyId(): string {
    return this.loadKey().id;
  }

  private loadKey(): Key {
    this.key ??= this.readKey();
    return this.key;
  }

  private readKey(): Key {
    const { keyText, home, clustered } = this.options;
    if (keyText !== undefined) {
      const bytes = parseSecretKey(keyText, SECRET_KEY_ENV);
      return { bytes, id: keyId(bytes), where: SECRET_KEY_ENV };
    }
    if (clustered || !home) {
      throw new AppError(
        "secret-key",
        `secrets need ${SECRET_KEY_ENV} on every node of a cluster (the same value on each API and worker ` +
          `node; a key file made on one node would not be on the others): ${MAKE_ONE} and set it everywhere`,
      );
    }
    const file = secretKeyFile(home);
    const bytes = readOrMakeKeyFile(file);
    return { bytes, id: keyId(bytes), where: `key file ${file}` };
  }
}

/** The key in `file`, made (0600, 32 random bytes in base64) when there is none. */
function readOrMakeKeyFile(file: string): Buffer {
  try {
    writeFileSync(file, `${randomBytes(32).toString("base64")}\n`, { flag: "wx", mode: 0o600 });
    chmodSync(file, 0o600); // whatever the umask
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new AppError(
        "secret-key",
        `cannot make the secret key file ${file}: ${(err as Error).message}; set ${SECRET_KEY_ENV} instead (${MAKE_ONE})`,
        { cause: err },
      );
    }
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new AppError(
      "secret-key",
      `the secret key file ${file} can be read by other users (mode ${mode.toString(8)}): \`chmod 600 ${file}\``,
    );
  }
  return parseSecretKey(readFileSync(file, "utf8"), `the secret key file ${file}`);
}
