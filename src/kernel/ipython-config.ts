/**
 * IPython's settings for every kernel nbhook starts (written in its profile as
 * ipython_kernel_config.json): no command history. Its history.sqlite would keep every cell a run
 * executed — the injected parameters included, unredacted — on disk. The fork server builds its
 * template shell with the same settings (python/nbhook/_forkserver.py).
 */
export const IPYTHON_KERNEL_CONFIG = JSON.stringify({ HistoryManager: { enabled: false } });
