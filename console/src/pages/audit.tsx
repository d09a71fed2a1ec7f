// Audit log: every admin action and sign-in, who, when, from where and what changed (secrets masked).

import { useState } from 'preact/hooks';
import { when } from '../api.js';
import { ErrorMessage, Field, useLoad } from '../ui.js';

export function AuditPage() {
  const [action, setAction] = useState('');
  const [query, setQuery] = useState('');
  const audit = useLoad<any>(`/audit?limit=200${query}`, 10_000);
  return (
    <div>
      <form
        class="inline"
        aria-label="Filters"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(action.trim() ? `&action=${encodeURIComponent(action.trim())}` : '');
        }}
      >
        <Field label="Action" value={action} onInput={setAction} placeholder="key.created" />
        <button type="submit">Apply filters</button>
      </form>
      <ErrorMessage error={audit.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">From</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Outcome</th>
            <th scope="col">What changed</th>
          </tr>
        </thead>
        <tbody>
          {(audit.data?.data ?? []).map((entry: any) => (
            <tr key={entry.id} class={entry.outcome === 'ok' ? '' : 'failed'}>
              <td>{when(entry.at)}</td>
              <td>{entry.actor}</td>
              <td>{entry.ip ?? '—'}</td>
              <td>{entry.action}</td>
              <td>{entry.target ?? '—'}</td>
              <td>{entry.outcome}</td>
              <td>
                <code class="changes">{JSON.stringify(entry.changes)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
