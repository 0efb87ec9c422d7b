/**
 * The nbhook dashboard (docs/dashboard.md): a client of the public API, served by nbhook itself.
 * Pages: Webhooks (/), a webhook (/webhooks/:id) and its Try form (/webhooks/:id/try), Runs
 * (/runs) and a run (/runs/:id); /signin when no session is open.
 */
import "./style.css";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, setCsrfToken, setSignedInAs, signedInToken, whenSignedOut } from "./api.js";
import { interceptLinks, matchRoute, navigate, useLocation } from "./router.js";
import { RunPage } from "./pages/run.js";
import { RunsPage } from "./pages/runs.js";
import { SignInPage } from "./pages/signin.js";
import { TryPage } from "./pages/try.js";
import { WebhookPage } from "./pages/webhook.js";
import { WebhooksPage } from "./pages/webhooks.js";

type SessionState = "checking" | "in" | "out";

function App() {
  const location = useLocation();
  const [session, setSession] = useState<SessionState>("checking");
  useEffect(() => {
    whenSignedOut(() => setSession("out"));
    api.session().then(
      (s) => {
        setCsrfToken(s.csrf_token);
        setSignedInAs(s.token);
        setSession("in");
      },
      () => setSession("out"),
    );
  }, []);
  const here = location.pathname + location.search;
  useEffect(() => {
    if (session === "out" && location.pathname !== "/signin") {
      navigate(`/signin?next=${encodeURIComponent(here)}`, { replace: true });
    }
  }, [session, here]);

  if (session === "checking") return <p class="loading">Loading nbhook…</p>;
  if (session === "out" || location.pathname === "/signin") {
    const next = safeNext(location.searchParams.get("next"));
    if (session === "in") {
      navigate(next, { replace: true });
      return null;
    }
    return (
      <SignInPage
        next={next}
        onSignedIn={(signedIn) => {
          setCsrfToken(signedIn.csrf_token);
          setSignedInAs(signedIn.token);
          setSession("in");
          // /docs and the API's own pages are not the app's: the browser loads them.
          if (next.startsWith("/docs")) window.location.assign(next);
          else navigate(next, { replace: true });
        }}
      />
    );
  }
  const signOut = async () => {
    try {
      await api.signOut();
    } finally {
      setCsrfToken(undefined);
      setSignedInAs(undefined);
      setSession("out");
    }
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to the content
      </a>
      <header class="top">
        <a href="/" class="brand">
          nbhook
        </a>
        <nav aria-label="Main">
          <a href="/" aria-current={isWebhookPath(location.pathname) ? "page" : undefined}>
            Webhooks
          </a>
          <a href="/runs" aria-current={location.pathname.startsWith("/runs") ? "page" : undefined}>
            Runs
          </a>
          <a href="/docs">API docs</a>
        </nav>
        {signedInToken() ? (
          <span class="muted signed-in-as" title="The token this session was opened with, and its scope">
            {signedInToken()!.name} ({signedInToken()!.scope})
          </span>
        ) : null}
        <button type="button" class="small sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      <Page location={location} />
    </>
  );
}

function Page({ location }: { location: URL }) {
  // After a navigation, the new page's content has the focus: a screen reader reads it, and Tab
  // goes on from there (not from the link that was clicked).
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const main = document.getElementById("main");
    main?.setAttribute("tabindex", "-1");
    main?.focus({ preventScroll: true });
  }, [location.pathname]);
  const path = location.pathname.replace(/\/+$/, "") || "/";
  let params: Record<string, string> | undefined;
  if (path === "/" || path === "/webhooks") return <WebhooksPage />;
  if ((params = matchRoute("/webhooks/:id/try", path))) return <TryPage key={params.id} id={params.id!} />;
  if ((params = matchRoute("/webhooks/:id", path))) return <WebhookPage key={params.id} id={params.id!} />;
  if (path === "/runs") return <RunsPage query={location.searchParams} />;
  if ((params = matchRoute("/runs/:id", path))) return <RunPage key={params.id} id={params.id!} />;
  return (
    <main id="main">
      <h1>Not found</h1>
      <p>
        There is no page at <code>{location.pathname}</code>. <a href="/">See the webhooks.</a>
      </p>
    </main>
  );
}

function isWebhookPath(pathname: string): boolean {
  return pathname === "/" || pathname.startsWith("/webhooks");
}

/** Where to go after signing in: a path on this server only (never another site). */
function safeNext(next: string | null): string {
  // "/\\host" is "//host" to a browser.
  return next && /^\/(?![/\\])/.test(next) && !next.startsWith("/signin") ? next : "/";
}

interceptLinks();
render(<App />, document.getElementById("app")!);
