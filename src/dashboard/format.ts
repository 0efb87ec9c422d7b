/** How times, durations and sizes read on the dashboard's pages. */

/** "3 min ago", "in 2 s", "just now". */
export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const s = Math.round(Math.abs(ms) / 1000);
  const [amount, unit] =
    s < 5
      ? [0, ""]
      : s < 60
        ? [s, "s"]
        : s < 3600
          ? [Math.round(s / 60), "min"]
          : s < 86_400
            ? [Math.round(s / 3600), "h"]
            : [Math.round(s / 86_400), "d"];
  if (amount === 0) return "just now";
  return ms >= 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}

/** A local date and time, to the second. */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { hour12: false });
}

/** "12 ms", "1.4 s", "2 min 5 s". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const min = Math.floor(ms / 60_000);
  return `${min} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A histo (`%Y%m%d%H%M%S%f`) as a readable UTC time: 2026-12-02 19:35:24. */
export function histoTime(histo: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/.exec(histo);
  return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]} UTC` : histo;
}

/** The file name of a notebook path. */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || path;
}
