/**
 * IPython's settings for every kernel nbhook starts (written in its profile as
 * ipython_kernel_config.json): no command history. Its history.sqlite would keep every cell a run
 * executed — the injected parameters included, unredacted — on disk. The fork server builds its
 * template shell with the same settings (python/nbhook/_forkserver.py).
 *
 * And no `_execute_sleep`: ipykernel sleeps 0.5 ms before each execute_reply so that a client
 * reading the reply first has seen the outputs; nbhook ends a cell only when both the reply and
 * the iopub `idle` have come (kernel/client.ts), and iopub keeps its order, so the sleep buys
 * nothing and costs 0.5 ms per request (npm run bench:kernel, docs/performance.md).
 *
 * For the same reason, the extension nbhook._kernel_tweaks (python/nbhook/_kernel_tweaks.py):
 * on ipykernel 6 a stdout/stderr flush with nothing to send no longer waits for the IOPub thread,
 * and a shell request no longer wakes the control thread first (together ~30 % of a short
 * request). An extension, so that spawned and forked kernels get it alike; it is a no-op on other
 * ipykernel versions and with NBHOOK_KERNEL_TWEAKS=0 in the kernel's environment.
 * `extra_extensions`, not `extensions`: a user's own configured extensions still load.
 */
export const IPYTHON_KERNEL_CONFIG = JSON.stringify({
  HistoryManager: { enabled: false },
  IPythonKernel: { _execute_sleep: 0 },
  IPKernelApp: { extra_extensions: ["nbhook._kernel_tweaks"] },
});
