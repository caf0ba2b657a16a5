// Sign in with an API key (mammocad apikey create) or a JWT from the hospital's identity
// provider. The credential is checked with `me` before it is kept (in sessionStorage only).

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../api.js';

/** @typedef {import('../../generated/operation-types.js').MeResult['me']} Me */

/** @param {{ onSignedIn: (credential: string, me: Me) => void, notice?: string | null }} props */
export function SignIn({ onSignedIn, notice }) {
  const [credential, setCredential] = useState('');
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const [busy, setBusy] = useState(false);
  const input = useRef(/** @type {HTMLInputElement | null} */ (null));
  useEffect(() => {
    document.title = 'Sign in – mammocad';
    input.current?.focus();
  }, []);

  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    const value = credential.trim().replace(/^Bearer\s+/i, '');
    if (!value) return setError('Enter an API key or a token.');
    setBusy(true);
    setError(null);
    try {
      const { me } = await gql('Me', {}, value);
      onSignedIn(value, me);
    } catch (caught) {
      setError(caught instanceof ApiError && caught.code === 'UNAUTHENTICATED' ? `Not signed in: ${caught.message}.` : caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="sign-in">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">mammocad console</h1>
        <p>Sign in with an API key or a token from your identity provider. It is kept in this browser tab only, until you sign out or close the tab.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label for="credential">API key or token</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="off"
          spellcheck={false}
          ref={input}
          value={credential}
          onInput={(e) => setCredential(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
          aria-describedby={error ? 'sign-in-error' : undefined}
          aria-invalid={error ? true : undefined}
        />
        {error ? (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
