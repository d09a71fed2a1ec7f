// Keys: create (the secret is shown once), top up, limits and policies, revoke, usage and balance history.

import { useEffect, useState } from 'preact/hooks';
import { api, errorText, usd, when } from '../api.js';
import { Checkbox, ErrorMessage, Field, Notice, useLoad } from '../ui.js';

const list = (text: string): string[] | null => {
  const items = text.split(/[\s,]+/).filter(Boolean);
  return items.length === 0 ? null : items;
};
const count = (text: string): number | null => (text.trim() === '' ? null : Number(text));

function CreateKey({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [quota, setQuota] = useState('');
  const [unlimited, setUnlimited] = useState(false);
  const [models, setModels] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [secret, setSecret] = useState<string | undefined>();
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const body: Record<string, unknown> = { name, unlimited };
      if (!unlimited && quota.trim() !== '') body.quota_usd = quota.trim();
      const allowed = list(models);
      if (allowed) body.allowed_models = allowed;
      const created = await api('/keys', { body });
      setSecret(created.secret);
      setError(undefined);
      setName('');
      setQuota('');
      onCreated();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <section>
      <h2>Create a key</h2>
      <form class="inline" onSubmit={(event) => void submit(event)}>
        <Field label="Key name" value={name} onInput={setName} required />
        <Field label="Initial quota (USD)" value={quota} onInput={setQuota} placeholder="5.00" />
        <Checkbox label="Unlimited" checked={unlimited} onChange={setUnlimited} />
        <Field label="Allowed models" value={models} onInput={setModels} placeholder="all" hint="Comma-separated; empty for every model." />
        <button type="submit">Create key</button>
      </form>
      <ErrorMessage error={error} />
      {secret ? (
        <div class="secret" role="status">
          <p>The new key — shown only this once; copy it now:</p>
          <code aria-label="New key secret">{secret}</code>
        </div>
      ) : null}
    </section>
  );
}

function ManageKey({ id, onChanged }: { id: string; onChanged: () => void }) {
  const key = useLoad<any>(`/keys/${id}`);
  const history = useLoad<any>(`/keys/${id}/history?limit=50`);
  const usage = useLoad<any>(`/usage?key=${id}&group_by=model`);
  const [amount, setAmount] = useState('');
  const [models, setModels] = useState('');
  const [allowlist, setAllowlist] = useState('');
  const [group, setGroup] = useState('');
  const [rpm, setRpm] = useState('');
  const [ipm, setIpm] = useState('');
  const [concurrent, setConcurrent] = useState('');
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const data = key.data;
  useEffect(() => {
    if (!data) return;
    setModels((data.allowed_models ?? []).join(', '));
    setAllowlist((data.ip_allowlist ?? []).join(', '));
    setGroup(data.price_group);
    setRpm(data.rate_limits.requests_per_minute?.toString() ?? '');
    setIpm(data.rate_limits.images_per_minute?.toString() ?? '');
    setConcurrent(data.rate_limits.concurrent_requests?.toString() ?? '');
  }, [data]);
  const act = async (work: () => Promise<string>) => {
    try {
      setMessage(await work());
      setError(undefined);
      await Promise.all([key.reload(), history.reload()]);
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  if (!data) return <ErrorMessage error={key.error} />;
  return (
    <section class="panel" aria-label={`Key ${data.name}`}>
      <h2>
        {data.name} <small>{data.id}</small>
      </h2>
      <p>
        Balance: <strong>{data.unlimited ? 'unlimited' : usd(data.balance)}</strong>
        {data.account ? ` · granted ${usd(data.account.granted)} · charged ${usd(data.account.charged)} · held ${usd(data.account.held)}` : ''}
        {data.revoked_at ? ` · revoked ${when(data.revoked_at)}` : ''}
      </p>
      {!data.unlimited && !data.revoked_at ? (
        <form class="inline" onSubmit={(event) => (event.preventDefault(), void act(async () => `Added; balance ${usd((await api(`/keys/${id}/topup`, { body: { amount_usd: amount.trim() } })).balance)}.`))}>
          <Field label="Top-up amount (USD)" value={amount} onInput={setAmount} required />
          <button type="submit">Top up</button>
        </form>
      ) : null}
      <form
        class="inline"
        onSubmit={(event) => {
          event.preventDefault();
          void act(async () => {
            await api(`/keys/${id}`, {
              method: 'PATCH',
              body: { allowed_models: list(models), ip_allowlist: list(allowlist), price_group: group, rate_limits: { requests_per_minute: count(rpm), images_per_minute: count(ipm), concurrent_requests: count(concurrent) } },
            });
            return 'Saved.';
          });
        }}
      >
        <Field label="Allowed models" value={models} onInput={setModels} hint="Empty: every model." />
        <Field label="IP allowlist" value={allowlist} onInput={setAllowlist} hint="Addresses or CIDR ranges; empty: anywhere." />
        <Field label="Price group" value={group} onInput={setGroup} />
        <Field label="Requests per minute" value={rpm} onInput={setRpm} type="number" />
        <Field label="Images per minute" value={ipm} onInput={setIpm} type="number" />
        <Field label="Concurrent requests" value={concurrent} onInput={setConcurrent} type="number" />
        <button type="submit">Save limits</button>
      </form>
      {!data.revoked_at ? (
        <button type="button" class="danger" onClick={() => confirm(`Revoke key ${data.name}? It stops working at once.`) && void act(async () => (await api(`/keys/${id}/revoke`, { method: 'POST' }), 'Revoked.'))}>
          Revoke key
        </button>
      ) : null}
      {message ? <Notice>{message}</Notice> : null}
      <ErrorMessage error={error} />
      <h3>Usage by model</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Requests</th>
            <th scope="col">Images</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {(usage.data?.data ?? []).map((row: any) => (
            <tr key={row.model}>
              <td>{row.model}</td>
              <td>{row.requests}</td>
              <td>{row.images_delivered}</td>
              <td>{usd(row.amount)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Balance history</h3>
      <HistoryTable rows={history.data?.data ?? []} />
    </section>
  );
}

export function HistoryTable({ rows }: { rows: any[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Kind</th>
          <th scope="col">Amount</th>
          <th scope="col">Note</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, index) => (
          <tr key={index}>
            <td>{when(row.at)}</td>
            <td>{row.kind}</td>
            <td class={row.amount < 0 ? 'negative' : ''}>{`${row.amount < 0 ? '−' : '+'}${usd(Math.abs(row.amount))}`}</td>
            <td>{row.note ?? row.reference ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function KeysPage() {
  const keys = useLoad<any>('/keys');
  const [selected, setSelected] = useState<string | undefined>();
  return (
    <div>
      <CreateKey onCreated={() => void keys.reload()} />
      <ErrorMessage error={keys.error} />
      <section>
        <h2>Keys</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Key</th>
              <th scope="col">Balance</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(keys.data?.data ?? []).map((key: any) => (
              <tr key={key.id}>
                <td>{key.name}</td>
                <td>
                  <code>{key.id}</code>
                </td>
                <td>
                  <code>{key.prefix}…</code>
                </td>
                <td>{key.unlimited ? 'unlimited' : usd(key.balance)}</td>
                <td>{key.revoked_at ? 'revoked' : key.enabled ? 'active' : 'disabled'}</td>
                <td>{when(key.created_at)}</td>
                <td>
                  <button type="button" aria-label={`Manage key ${key.name}`} onClick={() => setSelected(key.id)}>
                    Manage
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {selected ? <ManageKey key={selected} id={selected} onChanged={() => void keys.reload()} /> : null}
    </div>
  );
}
