/** Sign in with the API token; the server answers a session cookie (the token is not kept here). */
import { useState } from "preact/hooks";
import { api, describeError } from "../api.js";
import { useTitle } from "../hooks.js";

export function SignInPage({
  next,
  onSignedIn,
}: {
  next: string;
  onSignedIn(csrf: string | undefined): void;
}) {
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
      onSignedIn(session.csrf_token);
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
          Sign in with the server's API token: <code>nbhook serve</code> prints it, and it is in{" "}
          <code>~/.nbhook/api-token</code> on the server's machine.
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
