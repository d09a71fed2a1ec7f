// Request log: filter by key, model, channel, outcome and time; each row opens its details
// (parameters, warnings, cost and its explanation, generation time) and its images.

import { useState } from 'preact/hooks';
import { usd, when, type Session } from '../api.js';
import { ErrorMessage, Field, Json, Select, useLoad } from '../ui.js';

export function ImageLinks({ images, label }: { images: Array<{ url: string | null; expired: boolean }>; label: string }) {
  if (images.length === 0) return <p class="muted">No stored images (base64 answers are not kept).</p>;
  return (
    <div class="thumbs">
      {images.map((image, index) => (image.url ? <img key={index} src={image.url} alt={`${label}, image ${index + 1}`} loading="lazy" /> : <span key={index} class="muted">image {index + 1} expired (retention)</span>))}
    </div>
  );
}

function Details({ id }: { id: string }) {
  const detail = useLoad<any>(`/logs/${encodeURIComponent(id)}`);
  const entry = detail.data;
  if (!entry) return <ErrorMessage error={detail.error} />;
  return (
    <section class="panel" aria-label={`Request ${id}`}>
      <h2>Request {id}</h2>
      <dl class="facts">
        <dt>Request id</dt>
        <dd>{entry.request_id}</dd>
        <dt>When</dt>
        <dd>{when(entry.created_at)}</dd>
        <dt>Key</dt>
        <dd>{entry.key_id ?? '—'}</dd>
        <dt>Endpoint</dt>
        <dd>{entry.endpoint}</dd>
        <dt>Model</dt>
        <dd>{entry.model ?? '—'}</dd>
        <dt>Channel</dt>
        <dd>
          {entry.channel ?? '—'} ({entry.provider ?? '—'})
        </dd>
        <dt>Status</dt>
        <dd>
          {entry.status}
          {entry.error_code ? ` ${entry.error_code}` : ''}
        </dd>
        <dt>Latency</dt>
        <dd>{Math.round(entry.latency_ms)} ms{entry.generation_ms !== null ? ` (generation ${entry.generation_ms} ms)` : ''}</dd>
        <dt>Cost</dt>
        <dd>{entry.usage ? `${usd(entry.usage.amount)} (${entry.usage.images_delivered} × ${entry.usage.unit} at ${usd(entry.usage.unit_price)}${entry.usage.metered ? '' : ', unlimited key: not charged'})` : 'not charged'}</dd>
        {entry.task_id ? (
          <>
            <dt>Task</dt>
            <dd>{entry.task_id}</dd>
          </>
        ) : null}
      </dl>
      {entry.prompt ? (
        <>
          <h3>Prompt</h3>
          <p class="prompt">{entry.prompt}</p>
        </>
      ) : null}
      <h3>Parameters</h3>
      <Json value={entry.parameters ?? {}} />
      <h3>Warnings</h3>
      {entry.warnings.length === 0 ? <p class="muted">None.</p> : <ul>{entry.warnings.map((warning: string) => <li key={warning}>{warning}</li>)}</ul>}
      {entry.usage ? (
        <>
          <h3>How the cost was computed</h3>
          <Json value={entry.usage.detail} />
        </>
      ) : null}
      <h3>Images</h3>
      <ImageLinks images={entry.images} label={entry.prompt ?? id} />
    </section>
  );
}

export function LogsPage({ session }: { session: Session }) {
  const [key, setKey] = useState('');
  const [model, setModel] = useState('');
  const [channel, setChannel] = useState('');
  const [status, setStatus] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState<string | undefined>();
  const logs = useLoad<any>(`/logs?limit=200${query}`, 10_000);
  const apply = (event: Event) => {
    event.preventDefault();
    const parts = { key, model, channel, status, from, to };
    setQuery(
      Object.entries(parts)
        .filter(([, value]) => value.trim() !== '')
        .map(([name, value]) => `&${name}=${encodeURIComponent(value.trim())}`)
        .join(''),
    );
  };
  return (
    <div>
      <form class="inline" aria-label="Filters" onSubmit={apply}>
        {session.role === 'operator' ? <Field label="Key id" value={key} onInput={setKey} /> : null}
        <Field label="Model" value={model} onInput={setModel} />
        <Field label="Channel" value={channel} onInput={setChannel} />
        <Select label="Outcome" value={status} onChange={setStatus} options={[{ value: '', label: 'any' }, { value: 'succeeded', label: 'succeeded' }, { value: 'failed', label: 'failed' }]} />
        <Field label="From" type="date" value={from} onInput={setFrom} />
        <Field label="To" type="date" value={to} onInput={setTo} />
        <button type="submit">Apply filters</button>
      </form>
      <ErrorMessage error={logs.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            {session.role === 'operator' ? <th scope="col">Key</th> : null}
            <th scope="col">Endpoint</th>
            <th scope="col">Model</th>
            <th scope="col">Channel</th>
            <th scope="col">Status</th>
            <th scope="col">Images</th>
            <th scope="col">Latency</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {(logs.data?.data ?? []).map((entry: any) => (
            <tr key={entry.id} class={entry.status >= 400 ? 'failed' : ''}>
              <td>{when(entry.created_at)}</td>
              {session.role === 'operator' ? <td>{entry.key_id ?? '—'}</td> : null}
              <td>{entry.endpoint}</td>
              <td>{entry.model ?? '—'}</td>
              <td>{entry.channel ?? '—'}</td>
              <td>
                {entry.status}
                {entry.error_code ? ` ${entry.error_code}` : ''}
              </td>
              <td>
                {entry.images_delivered}/{entry.images_requested}
              </td>
              <td>{Math.round(entry.latency_ms)} ms</td>
              <td>
                <button type="button" aria-label={`Details of request ${entry.id}`} onClick={() => setOpen(entry.id)}>
                  Details
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open ? <Details key={open} id={open} /> : null}
    </div>
  );
}
