// A key holder's own key: balance, limits and history.

import { usd, when, type Session } from '../api.js';
import { ErrorMessage, useLoad } from '../ui.js';
import { HistoryTable } from './keys.js';

export function AccountPage({ session }: { session: Session }) {
  const me = useLoad<any>('/me');
  const history = useLoad<any>(`/keys/${session.key_id}/history?limit=100`);
  const key = me.data;
  return (
    <div>
      <ErrorMessage error={me.error ?? history.error} />
      {key ? (
        <dl class="cards">
          <div>
            <dt>Key</dt>
            <dd>{key.name}</dd>
          </div>
          <div>
            <dt>Balance</dt>
            <dd>{key.unlimited ? 'unlimited' : usd(key.balance)}</dd>
          </div>
          <div>
            <dt>Models</dt>
            <dd>{key.allowed_models ? key.allowed_models.join(', ') : 'all'}</dd>
          </div>
          <div>
            <dt>Expires</dt>
            <dd>{when(key.expires_at)}</dd>
          </div>
        </dl>
      ) : null}
      <h2>Balance history</h2>
      <HistoryTable rows={history.data?.data ?? []} />
    </div>
  );
}
