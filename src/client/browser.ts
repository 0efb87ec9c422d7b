/**
 * @module `nbhook/api-client`: the part of the SDK that runs wherever `fetch` does, a browser
 * included (no `node:` import; the dashboard is built on it): the management API by webhook and
 * run id, webhook calls, and the errors it throws. `nbhook` (index.ts) adds NbhookClient, which
 * takes notebook paths and reads files (Node only).
 */
export { ApiClient, type NotebookDownload } from "./api-client.js";
export { NbhookApiError, NbhookClientError, NbhookConnectionError, NbhookResponseError } from "./errors.js";
export { redactWebhookTokens } from "./redact.js";
export type { CallAnswer, CallOptions, CallParameters } from "./webhook-call.js";
export type { RetryOptions } from "./transport.js";
export type {
  AcceptedCallJson as AcceptedCall,
  ErrorBody,
  OutputJson as Output,
  RunJson as Run,
  VersionJson as Version,
  WebhookJson as Webhook,
  WebhookParametersJson as WebhookParameters,
} from "../api/schemas.js";
export type { RunStatus } from "../run-status.js";
