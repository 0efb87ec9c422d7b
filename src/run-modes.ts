/**
 * @module How calls of a webhook get their kernel (docs/modes.md), defined once: the store keeps
 * the mode, the API and the SDK show it. Its own module so the SDK (in a browser too) reads it
 * without the store's types.
 */
export const RUN_MODES = ["isolated", "setup", "reuse"] as const;
export type RunMode = (typeof RUN_MODES)[number];
