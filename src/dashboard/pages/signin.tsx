/** Sign in with an API token; the server answers a session cookie (the token is not kept here). */
import { useState } from "preact/hooks";
import type { SessionJson } from "../../api/session-schemas.js";
import { api, describeError } from "../api.js";
import { useTitle } from "../hooks.js";

export function SignInPage({ next, onSignedIn }: { next: string; onSignedIn(session: SessionJson): void }) {
  useTitle("Sign in");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await api.signIn(token.trim());
      onSignedIn(session);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <form class="panel signin-form" onSubmit={submit}>
        <h1>
          <span class="brand">nbhook</span> dashboard
        </h1>
        <p class="muted">
          Sign in with an API token: the first admin token is in <code>~/.nbhook/api-token</code> on the
          server's machine (<code>nbhook serve</code> printed it at its first start); an admin makes others
          with <code>nbhook tokens create</code>. The dashboard may do what the token may.
        </p>
        {/* Password managers want a user name beside a password: there is one user, the token's. */}
        <input type="text" name="username" autoComplete="username" value="nbhook" hidden readOnly />
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          required
          autoFocus
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        {error ? (
          <p class="error-note" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {next !== "/" ? <p class="muted small-text">You will go on to {next}.</p> : null}
      </form>
    </main>
  );
}
