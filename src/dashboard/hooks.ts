/** Data loading for pages: one request's state, and the live feed of runs. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { RunJson } from "../api/schemas.js";
import { noticeSignOut } from "./api.js";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
  /** Replaces the data without asking the server (after an action answered the new state). */
  set(data: T): void;
}

/** Runs `load` now and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && setState({ data, loading: false }),
      (error: unknown) => current && setState((s) => ({ ...s, error: noticeSignOut(error), loading: false })),
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const set = useCallback((data: T) => setState({ data, loading: false }), []);
  return { data: state.data, error: state.error, loading: state.loading, reload, set };
}

export type LiveState = "connecting" | "live" | "reconnecting";

/**
 * Listens to `GET /api/runs/events` while the page is open: `onRun` for each run queued, started
 * or finished; `onReady` when the feed watches (then, and after each reconnection, the page
 * loads its list again, so no change is missed).
 */
export function useRunEvents(
  handlers: { onRun(run: RunJson): void; onReady?(): void },
  webhookId?: string,
): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const url = webhookId ? `/api/runs/events?webhook=${encodeURIComponent(webhookId)}` : "/api/runs/events";
    const source = new EventSource(url);
    source.addEventListener("ready", () => {
      setState("live");
      latest.current.onReady?.();
    });
    source.addEventListener("run", (event) => {
      latest.current.onRun(JSON.parse((event as MessageEvent<string>).data) as RunJson);
    });
    source.addEventListener("error", () => setState("reconnecting"));
    return () => source.close();
  }, [webhookId]);
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
