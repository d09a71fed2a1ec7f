// Models and prices: the catalog with each model's limits, aliases (model mappings), routes and
// price; edit a model's price and the price groups.

import { useState } from 'preact/hooks';
import { api, errorText } from '../api.js';
import { ErrorMessage, Field, Json, Notice, Select, useLoad } from '../ui.js';

export function ModelsPage() {
  const models = useLoad<any>('/models');
  const [model, setModel] = useState('');
  const [spec, setSpec] = useState('');
  const [groupName, setGroupName] = useState('');
  const [groupSpec, setGroupSpec] = useState('{"multiplier": 1}');
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const rows: any[] = models.data?.data ?? [];
  const act = async (work: () => Promise<string>) => {
    try {
      setMessage(await work());
      setError(undefined);
      await models.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const parse = (text: string) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error('The price must be JSON, e.g. {"per_image": {"*": {"1024x1024": "0.04"}}}.');
    }
  };
  const choose = (id: string) => {
    setModel(id);
    const found = rows.find((row) => row.id === id);
    setSpec(found?.price ? JSON.stringify(found.price, null, 2) : '');
  };
  return (
    <div>
      <ErrorMessage error={error ?? models.error} />
      {message ? <Notice>{message}</Notice> : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Also answers to</th>
            <th scope="col">Operations</th>
            <th scope="col">Sizes</th>
            <th scope="col">Max n</th>
            <th scope="col">Routes (channel → upstream model)</th>
            <th scope="col">Price</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td>
                <code>{row.id}</code>
              </td>
              <td>{row.aliases.join(', ') || '—'}</td>
              <td>{row.operations.join(', ')}</td>
              <td>{row.sizes.join(', ')}</td>
              <td>{row.max_n}</td>
              <td>{row.routes.length === 0 ? 'offline engine (no channel)' : row.routes.map((route: any) => `${route.channel} → ${route.upstream_model} (p${route.priority}, w${route.weight}, ${route.circuit})`).join('; ')}</td>
              <td class="price-cell">
                {row.price ? <code>{JSON.stringify(row.price).slice(0, 120)}</code> : <span class="muted">no price</span>}{' '}
                <button type="button" aria-label={`Edit price of ${row.id}`} onClick={() => choose(row.id)}>
                  {row.price ? 'Edit price' : 'Set price'}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {model ? (
        <section class="panel">
          <h2>Price of {model}</h2>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void act(async () => (await api(`/prices/${encodeURIComponent(model)}`, { method: 'PUT', body: parse(spec) }), `Price of ${model} saved.`));
            }}
          >
            <Field label="Price (JSON)" value={spec} onInput={setSpec} multiline />
            <button type="submit">Save price</button>
            <button type="button" onClick={() => void act(async () => (await api(`/prices/${encodeURIComponent(model)}`, { method: 'DELETE' }), `Price of ${model} reset to the price file.`))}>
              Reset price
            </button>
          </form>
        </section>
      ) : null}
      <section>
        <h2>Price groups</h2>
        <Json value={models.data?.price_groups ?? {}} />
        <form
          class="inline"
          onSubmit={(event) => {
            event.preventDefault();
            void act(async () => (await api(`/price-groups/${encodeURIComponent(groupName)}`, { method: 'PUT', body: parse(groupSpec) }), `Price group ${groupName} saved.`));
          }}
        >
          <Select label="Existing group" value="" onChange={(name) => (setGroupName(name), setGroupSpec(JSON.stringify(models.data?.price_groups?.[name] ?? {}, null, 2)))} options={[{ value: '', label: 'choose…' }, ...Object.keys(models.data?.price_groups ?? {}).map((name) => ({ value: name, label: name }))]} />
          <Field label="Group name" value={groupName} onInput={setGroupName} required />
          <Field label="Group (JSON)" value={groupSpec} onInput={setGroupSpec} multiline />
          <button type="submit">Save price group</button>
        </form>
      </section>
    </div>
  );
}
