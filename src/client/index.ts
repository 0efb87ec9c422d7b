/**
 * @module The nbhook TypeScript SDK: a typed client of the management API (docs/api.md).
 */
export { ApiClient } from "./api-client.js";
export { NbhookClient, type AddOptions, type NbhookClientOptions, type NotebookDownload } from "./client.js";
export {
  resolveConnection,
  DEFAULT_SERVER_URL,
  type Connection,
  type ConnectionFlags,
} from "./connection.js";
export { NbhookApiError, NbhookClientError, NbhookConnectionError, NbhookResponseError } from "./errors.js";
export type { DependencyFile } from "./deploy-files.js";
export { redactWebhookTokens } from "./redact.js";
export type { CallAnswer, CallOptions, CallParameters } from "./webhook-call.js";
export type { RetryOptions } from "./transport.js";
export type {
  AcceptedCallJson as AcceptedCall,
  AddResultJson as AddResult,
  ErrorBody,
  OutputJson as Output,
  RunJson as Run,
  SecretJson as Secret,
  VersionJson as Version,
  WebhookJson as Webhook,
  WebhookParametersJson as WebhookParameters,
} from "../api/schemas.js";
export type { RunStatus } from "../run-status.js";
export type { ApiTokenJson as ApiToken, CreatedTokenJson as CreatedToken } from "../api/token-schemas.js";
