// Channels: create, edit, enable/disable, priority and weight, a test that runs a real request and
// shows its image, latency or error; live health refreshed every few seconds.

import { useState } from 'preact/hooks';
import { api, errorText } from '../api.js';
import { ErrorMessage, Field, Notice, Select, useLoad } from '../ui.js';

const providers = ['openai', 'azure', 'bfl', 'replicate', 'fal', 'google', 'stability', 'offline'];
const list = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);

function mapText(map: Record<string, string>): string {
  return Object.entries(map)
    .map(([from, to]) => `${from}=${to}`)
    .join(', ');
}
function parseMap(text: string): Record<string, string> {
  return Object.fromEntries(list(text).map((pair) => pair.split('=', 2) as [string, string]).filter(([from, to]) => from && to));
}

function ChannelForm({ initial, onSaved, onCancel }: { initial?: any; onSaved: () => void; onCancel?: () => void }) {
  const editing = initial !== undefined;
  const [name, setName] = useState(initial?.name ?? '');
  const [provider, setProvider] = useState(initial?.provider ?? 'openai');
  const [baseUrl, setBaseUrl] = useState(initial?.base_url ?? '');
  const [apiKey, setApiKey] = useState('');
  const [models, setModels] = useState((initial?.models ?? []).join(', '));
  const [modelMap, setModelMap] = useState(mapText(initial?.model_map ?? {}));
  const [priority, setPriority] = useState(String(initial?.priority ?? 0));
  const [weight, setWeight] = useState(String(initial?.weight ?? 1));
  const [error, setError] = useState<string | undefined>();
  const submit = async (event: Event) => {
    event.preventDefault();
    const body: Record<string, unknown> = { models: list(models), model_map: parseMap(modelMap), priority: Number(priority), weight: Number(weight) };
    if (baseUrl.trim() !== '') body.base_url = baseUrl.trim();
    if (apiKey.trim() !== '') body.api_key = apiKey.trim();
    try {
      if (editing) await api(`/channels/${encodeURIComponent(initial.name)}`, { method: 'PATCH', body });
      else await api('/channels', { body: { name, provider, ...body } });
      setError(undefined);
      onSaved();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <form class="inline" aria-label={editing ? `Edit channel ${initial.name}` : 'Create a channel'} onSubmit={(event) => void submit(event)}>
      {editing ? null : <Field label="Channel name" value={name} onInput={setName} required />}
      {editing ? null : <Select label="Provider" value={provider} onChange={setProvider} options={providers.map((value) => ({ value, label: value }))} />}
      <Field label="Base URL" value={baseUrl} onInput={setBaseUrl} placeholder="provider default" />
      <Field label="Upstream API key" type="password" value={apiKey} onInput={setApiKey} placeholder={editing ? 'unchanged' : ''} />
      <Field label="Models" value={models} onInput={setModels} required hint="Catalog ids, comma-separated." />
      <Field label="Model mapping" value={modelMap} onInput={setModelMap} placeholder="dall-e-3=gpt-image-1" hint="catalog=upstream pairs." />
      <Field label="Priority" type="number" value={priority} onInput={setPriority} />
      <Field label="Weight" type="number" value={weight} onInput={setWeight} />
      <button type="submit">{editing ? 'Save channel' : 'Create channel'}</button>
      {onCancel ? (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
      <ErrorMessage error={error} />
    </form>
  );
}

function TestResult({ result }: { result: any }) {
  return (
    <section class="panel" aria-label={`Test of ${result.channel}`}>
      <h3>Test of {result.channel}</h3>
      {result.ok ? (
        <>
          <p role="status">
            OK: {result.model} as {result.upstream_model}, {result.latency_ms} ms, {result.format}
          </p>
          {result.image_data_url ? <img class="test-image" src={result.image_data_url} alt={`Test image from ${result.channel}`} /> : null}
        </>
      ) : (
        <p role="alert" class="error">
          Failed after {result.latency_ms} ms: {result.error.code}: {result.error.message}
        </p>
      )}
    </section>
  );
}

export function ChannelsPage() {
  const channels = useLoad<any>('/channels', 5_000);
  const [editing, setEditing] = useState<string | undefined>();
  const [testing, setTesting] = useState<string | undefined>();
  const [result, setResult] = useState<any>();
  const [error, setError] = useState<string | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const [formGeneration, setFormGeneration] = useState(0);
  const act = async (work: () => Promise<unknown>, done: string) => {
    try {
      await work();
      setMessage(done);
      setError(undefined);
      await channels.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const test = async (name: string) => {
    setTesting(name);
    setResult(undefined);
    try {
      setResult(await api(`/channels/${encodeURIComponent(name)}/test`, { body: { include_image: true } }));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setTesting(undefined);
    }
  };
  const rows: any[] = channels.data?.data ?? [];
  return (
    <div>
      <section>
        <h2>Create a channel</h2>
        <ChannelForm
          key={formGeneration}
          onSaved={() => {
            // A fresh, empty form for the next channel.
            setFormGeneration((generation) => generation + 1);
            void act(async () => undefined, 'Channel created.');
          }}
        />
      </section>
      <ErrorMessage error={error ?? channels.error} />
      {message ? <Notice>{message}</Notice> : null}
      <section>
        <h2>Channels</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Provider</th>
              <th scope="col">Models</th>
              <th scope="col">Priority</th>
              <th scope="col">Weight</th>
              <th scope="col">Enabled</th>
              <th scope="col">Circuit</th>
              <th scope="col">In flight</th>
              <th scope="col">Waiting</th>
              <th scope="col">Failures</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((channel) => (
              <tr key={channel.name}>
                <td>{channel.name}</td>
                <td>{channel.provider}</td>
                <td>{channel.models.map((model: string) => (channel.model_map[model] ? `${model}→${channel.model_map[model]}` : model)).join(', ')}</td>
                <td>{channel.priority}</td>
                <td>{channel.weight}</td>
                <td>{channel.enabled ? 'yes' : `no${channel.disabled_reason ? ` (${channel.disabled_reason})` : ''}`}</td>
                <td class={`circuit-${channel.health.circuit}`}>{channel.health.circuit}</td>
                <td>{channel.health.in_flight}</td>
                <td>{channel.health.queued}</td>
                <td>{channel.health.consecutive_failures}</td>
                <td class="actions">
                  <button type="button" aria-label={`Test channel ${channel.name}`} disabled={testing !== undefined} onClick={() => void test(channel.name)}>
                    {testing === channel.name ? 'Testing…' : 'Test'}
                  </button>
                  <button type="button" aria-label={`Edit channel ${channel.name}`} onClick={() => setEditing(channel.name)}>
                    Edit
                  </button>
                  {channel.enabled ? (
                    <button type="button" aria-label={`Disable channel ${channel.name}`} onClick={() => void act(() => api(`/channels/${encodeURIComponent(channel.name)}/disable`, { body: { reason: 'console' } }), `${channel.name} disabled.`)}>
                      Disable
                    </button>
                  ) : (
                    <button type="button" aria-label={`Enable channel ${channel.name}`} onClick={() => void act(() => api(`/channels/${encodeURIComponent(channel.name)}/enable`, { method: 'POST' }), `${channel.name} enabled.`)}>
                      Enable
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {result ? <TestResult result={result} /> : null}
      {editing ? (
        <section class="panel">
          <h2>Edit {editing}</h2>
          <ChannelForm
            key={editing}
            initial={rows.find((channel) => channel.name === editing)}
            onSaved={() => {
              setEditing(undefined);
              void act(async () => undefined, 'Channel saved.');
            }}
            onCancel={() => setEditing(undefined)}
          />
        </section>
      ) : null}
    </div>
  );
}
