// Sign-in: operators with the admin token, key holders with their API key.

import { useState } from 'preact/hooks';
import { api, errorText, type Session } from '../api.js';
import { ErrorMessage, Field } from '../ui.js';

export function SignInPage(props: { onSignedIn: (session: Session) => void; error?: string | undefined }) {
  const [as, setAs] = useState<'operator' | 'key'>('operator');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | undefined>(props.error);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const session = await api<Session>('/session', { body: as === 'operator' ? { admin_token: secret } : { api_key: secret } });
      props.onSignedIn(session);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Sign in to imagegate</h1>
      <form onSubmit={(event) => void submit(event)}>
        <fieldset>
          <legend>Sign in as</legend>
          <label>
            <input type="radio" name="as" checked={as === 'operator'} onChange={() => setAs('operator')} /> Operator (admin token)
          </label>
          <label>
            <input type="radio" name="as" checked={as === 'key'} onChange={() => setAs('key')} /> Key holder (API key)
          </label>
        </fieldset>
        <Field label={as === 'operator' ? 'Admin token' : 'API key'} type="password" value={secret} onInput={setSecret} required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorMessage error={error} />
      </form>
    </main>
  );
}
