/** Data loading for pages: one request's state, the live feed of runs, the page's title. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { RunJson } from "../api/schemas.js";
import { api, noticeSignOut } from "./api.js";

export interface Loaded<T> {
  data: T | undefined;
  /** The last load's failure; the data of the load before it, if any, is kept. */
  error: unknown;
  loading: boolean;
  reload(): void;
  /** Replaces the data without asking the server (after an action answered the new state). */
  set(data: T): void;
  /**
   * Changes the data in place (a run from the live feed). While a load is on its way, the change
   * is also applied to what it brings: an answer read before the change cannot undo it.
   */
  update(change: (data: T) => T): void;
}

/** Runs `load` now and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const pending = useRef<((data: T) => T)[]>([]);
  const loading = useRef(true);
  useEffect(() => {
    let current = true;
    loading.current = true;
    pending.current = [];
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (!current) return;
        const changed = pending.current.reduce((d, change) => change(d), data);
        pending.current = [];
        loading.current = false;
        setState({ data: changed, loading: false });
      },
      (error: unknown) => {
        if (!current) return;
        loading.current = false;
        setState((s) => ({ ...s, error: noticeSignOut(error), loading: false }));
      },
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const set = useCallback((data: T) => setState({ data, loading: false }), []);
  const update = useCallback((change: (data: T) => T) => {
    if (loading.current) pending.current.push(change);
    setState((s) => (s.data === undefined ? s : { ...s, data: change(s.data) }));
  }, []);
  return { data: state.data, error: state.error, loading: state.loading, reload, set, update };
}

export type LiveState = "connecting" | "live" | "reconnecting";

/**
 * Listens to `GET /api/runs/events` while the page is open: `onRun` for each run queued, started
 * or finished; `onReady` when the feed watches (then, and after each reconnection, the page
 * loads its list again, so no change is missed). The browser reconnects by itself after a network
 * error; a stream the server ended or refused (it stopped, the session ended) is opened again
 * here after a pause, once `GET /api/session` says the session holds (else: the sign-in page).
 */
export function useRunEvents(
  handlers: { onRun(run: RunJson): void; onReady?(): void },
  webhookId?: string,
  enabled = true,
): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    const url = webhookId ? `/api/runs/events?webhook=${encodeURIComponent(webhookId)}` : "/api/runs/events";
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;
    const open = () => {
      source = new EventSource(url);
      source.addEventListener("ready", () => {
        failures = 0;
        setState("live");
        latest.current.onReady?.();
      });
      source.addEventListener("run", (event) => {
        latest.current.onRun(JSON.parse((event as MessageEvent<string>).data) as RunJson);
      });
      source.addEventListener("error", () => {
        setState("reconnecting");
        if (source?.readyState !== EventSource.CLOSED || stopped) return;
        failures++;
        const pause = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
        retry = setTimeout(() => {
          api.session().then(
            () => !stopped && open(),
            (err: unknown) => noticeSignOut(err) && !stopped && (retry = setTimeout(open, pause)),
          );
        }, pause);
      });
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, [webhookId, enabled]);
  return state;
}

/** Re-renders every `ms` (relative times such as "3 min ago" stay true). */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return tick;
}

/** The browser tab's title: "<page> · nbhook". */
export function useTitle(title: string | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · nbhook` : "nbhook";
  }, [title]);
}
