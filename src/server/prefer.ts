/**
 * The `Prefer` request header (RFC 7240) as a webhook call reads it: `respond-async` (answer 202
 * at once, the run going on in the background) and `wait=N` (wait up to N seconds for the answer,
 * then 202). Other preferences, parameters and malformed values are ignored, as the RFC says.
 */

/** Longest `wait` honoured, in seconds (a larger one counts as this). */
export const MAX_WAIT_S = 3600;

export interface CallPreference {
  /** Undefined: an ordinary call (wait for the answer however long the run takes). */
  waitMs?: number;
}

export function parsePrefer(header: string | string[] | undefined): CallPreference {
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  let async = false;
  let waitS: number | undefined;
  for (const item of text.split(",")) {
    const [preference = ""] = item.split(";");
    const eq = preference.indexOf("=");
    const name = (eq < 0 ? preference : preference.slice(0, eq)).trim().toLowerCase();
    const value =
      eq < 0
        ? ""
        : preference
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, "$1");
    if (name === "respond-async") async = true;
    else if (name === "wait" && /^\d+$/.test(value) && waitS === undefined)
      waitS = Math.min(Number(value), MAX_WAIT_S);
  }
  if (waitS !== undefined) return { waitMs: waitS * 1000 };
  return async ? { waitMs: 0 } : {};
}
