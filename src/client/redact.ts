/**
 * Webhook URLs are secrets (the token is the only credential a caller needs), so anything the SDK
 * prints for debugging has them masked.
 */
const WEBHOOK_TOKEN = /\/notebook\/[A-Za-z0-9_-]+/g;

export function redactWebhookTokens(text: string): string {
  return text.replace(WEBHOOK_TOKEN, "/notebook/<token>");
}
