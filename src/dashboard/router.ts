/**
 * A small history router: six URL patterns do not need a routing package (preact-iso, the
 * Preact team's, also wants preact-render-to-string for server rendering this app does not do).
 * Links are plain `<a href>`: clicks on same-origin dashboard links are caught in one place
 * (`interceptLinks`), so middle-click, copy link and opening in a new tab work as on any page.
 */
import { useEffect, useState } from "preact/hooks";

const NAVIGATE = "nbhook:navigate";

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATE));
  window.scrollTo(0, 0);
}

/** The current location; the component renders again when it changes. */
export function useLocation(): URL {
  const [url, setUrl] = useState(() => new URL(location.href));
  useEffect(() => {
    const update = () => setUrl(new URL(location.href));
    window.addEventListener("popstate", update);
    window.addEventListener(NAVIGATE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(NAVIGATE, update);
    };
  }, []);
  return url;
}

/** `/webhooks/:id` against `/webhooks/abc`: `{ id: "abc" }`, or undefined. */
export function matchRoute(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const have = pathname.split("/").filter(Boolean);
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i]!;
    if (part.startsWith(":")) {
      try {
        params[part.slice(1)] = decodeURIComponent(have[i]!);
      } catch {
        return undefined; // a malformed %-escape: no such page
      }
    } else if (part !== have[i]) return undefined;
  }
  return params;
}

/** Dashboard paths the app shows itself; anything else (/api, /docs, downloads) the browser loads. */
function isAppPath(pathname: string): boolean {
  return pathname === "/" || /^\/(signin|webhooks|runs)(\/|$)/.test(pathname);
}

/** Turns clicks on dashboard links into navigations without a page load. */
export function interceptLinks(): void {
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || !isAppPath(url.pathname)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
