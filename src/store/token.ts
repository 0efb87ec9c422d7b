/** @module Webhook tokens, the secret part of a webhook's URL (DESIGN.md, "Webhook URL"). */
import { randomBytes } from "node:crypto";

/** A webhook token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}
