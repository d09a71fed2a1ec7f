// Playground: pick a key (operators) and a model, type a prompt, set size/aspect ratio/quality/n,
// upload images for an edit, and run it synchronously, as a task, or streamed with partial images;
// then see the images, the cost and the warnings. It calls the same Images API clients do.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorText, imagesApi, usd, type Session } from '../api.js';
import { ErrorMessage, Field, Select, useLoad } from '../ui.js';
import { TaskDetails } from './tasks.js';

type Mode = 'sync' | 'async' | 'stream';

interface Outcome {
  requestId: string | null;
  images: string[];
  partials: string[];
  warnings: string | null;
  taskId: string | null;
  cost: number | null | undefined;
}

/** Reads a text/event-stream body, calling `onEvent` with each event's JSON data. */
async function readEvents(response: Response, onEvent: (data: any) => void): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n');
      if (data !== '' && data !== '[DONE]') onEvent(JSON.parse(data));
    }
  }
}

export function PlaygroundPage({ session }: { session: Session }) {
  const models = useLoad<any>('/models');
  const keys = useLoad<any>(session.role === 'operator' ? '/keys' : null);
  const [keyId, setKeyId] = useState(session.key_id ?? '');
  const [modelId, setModelId] = useState('');
  const [prompt, setPrompt] = useState('');
  const [size, setSize] = useState('');
  const [quality, setQuality] = useState('');
  const [n, setN] = useState('1');
  const [mode, setMode] = useState<Mode>('sync');
  const [files, setFiles] = useState<File[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [outcome, setOutcome] = useState<Outcome | undefined>();

  const modelList: any[] = models.data?.data ?? [];
  const model = useMemo(() => modelList.find((candidate) => candidate.id === modelId), [modelList, modelId]);
  const activeKeys: any[] = (keys.data?.data ?? []).filter((key: any) => key.enabled && !key.revoked_at);
  useEffect(() => {
    if (!modelId && modelList.length > 0) setModelId(modelList.find((candidate) => candidate.id === 'gpt-image-1')?.id ?? modelList[0].id);
  }, [modelList, modelId]);
  useEffect(() => {
    if (session.role === 'operator' && !keyId && activeKeys.length > 0) setKeyId(activeKeys[0].id);
  }, [activeKeys, keyId, session.role]);
  useEffect(() => {
    setSize('');
    setQuality('');
  }, [modelId]);

  const run = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setOutcome(undefined);
    try {
      const fields: Record<string, string | number | boolean> = { model: modelId, prompt, n: Number(n) };
      if (size) fields[model?.size_kind === 'aspect_ratios' ? 'aspect_ratio' : 'size'] = size;
      if (quality) fields.quality = quality;
      // URLs, not base64: the images are stored, so they show in the gallery and the request log.
      if (mode !== 'stream') fields.response_format = 'url';
      if (mode === 'stream') Object.assign(fields, { stream: true, partial_images: 2 });
      const edit = files.length > 0;
      const path = `/v1/images/${edit ? 'edits' : 'generations'}${mode === 'async' ? '?async=true' : ''}`;
      let body: BodyInit;
      if (edit) {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
        for (const file of files) form.append(files.length > 1 ? 'image[]' : 'image', file);
        body = form;
      } else {
        body = JSON.stringify(fields);
      }
      const response = await imagesApi(path, body, { keyId: keyId || null, json: !edit });
      const result: Outcome = { requestId: response.headers.get('x-request-id'), images: [], partials: [], warnings: response.headers.get('x-imagegate-warnings'), taskId: null, cost: undefined };
      if (mode === 'async') {
        result.taskId = (await response.json()).id;
        setOutcome(result);
        return;
      }
      if (mode === 'stream') {
        await readEvents(response, (data) => {
          if (data.type?.endsWith('.partial_image')) result.partials = [...result.partials, `data:image/${data.output_format ?? 'png'};base64,${data.b64_json}`];
          else if (data.type?.endsWith('.completed')) result.images = [...result.images, `data:image/${data.output_format ?? 'png'};base64,${data.b64_json}`];
          else if (data.type === 'error') throw new Error(data.error?.message ?? 'The stream failed.');
          setOutcome({ ...result });
        });
      } else {
        const json = await response.json();
        result.images = json.data.map((item: any) => item.url ?? `data:image/png;base64,${item.b64_json}`);
      }
      // The request log entry is written a moment after the answer; its charge says what the request cost.
      if (result.requestId) {
        for (let attempt = 0; attempt < 10 && result.cost === undefined; attempt += 1) {
          const entry = await api(`/logs/${encodeURIComponent(result.requestId)}`).catch(() => undefined);
          if (entry) result.cost = entry.usage?.amount ?? null;
          else await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      setOutcome({ ...result });
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  const sizeOptions = [{ value: '', label: 'model default' }, ...(model?.size_kind === 'rule' ? [] : (model?.sizes ?? []).map((value: string) => ({ value, label: value })))];
  return (
    <div>
      <form class="playground" onSubmit={(event) => void run(event)}>
        {session.role === 'operator' ? <Select label="Bill to key" value={keyId} onChange={setKeyId} options={activeKeys.map((key) => ({ value: key.id, label: `${key.name} (${key.id})` }))} /> : null}
        <Select label="Model" value={modelId} onChange={setModelId} options={modelList.map((candidate) => ({ value: candidate.id, label: candidate.id }))} />
        <Field label="Prompt" value={prompt} onInput={setPrompt} multiline required />
        {model?.size_kind === 'rule' ? (
          <Field label="Size" value={size} onInput={setSize} placeholder="e.g. 1024x1024" />
        ) : (
          <Select label={model?.size_kind === 'aspect_ratios' ? 'Aspect ratio' : 'Size'} value={size} onChange={setSize} options={sizeOptions} />
        )}
        {model?.qualities?.length ? <Select label="Quality" value={quality} onChange={setQuality} options={[{ value: '', label: 'model default' }, ...model.qualities.map((value: string) => ({ value, label: value }))]} /> : null}
        <Field label="Number of images" type="number" value={n} onInput={setN} />
        <fieldset>
          <legend>Run</legend>
          {(['sync', 'async', 'stream'] as const).map((value) => (
            <label key={value}>
              <input type="radio" name="mode" checked={mode === value} onChange={() => setMode(value)} /> {value === 'sync' ? 'Synchronous' : value === 'async' ? 'As a task' : 'Streamed'}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="playground-images">Images to edit (optional)</label>
          <input id="playground-images" type="file" accept="image/png,image/jpeg,image/webp" multiple onChange={(event) => setFiles([...(event.currentTarget.files ?? [])])} />
        </div>
        <button type="submit" disabled={busy || (session.role === 'operator' && !keyId)}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </form>
      <ErrorMessage error={error ?? models.error} />
      {outcome ? (
        <section class="panel" aria-label="Result">
          <h2>Result</h2>
          {outcome.requestId ? (
            <p>
              Request <code>{outcome.requestId}</code>
              {outcome.cost !== undefined ? ` · cost ${outcome.cost === null ? 'not charged' : usd(outcome.cost)}` : ''}
            </p>
          ) : null}
          {outcome.warnings ? (
            <p role="note" class="warning">
              Warnings: {outcome.warnings}
            </p>
          ) : null}
          {outcome.partials.length > 0 ? (
            <div class="thumbs partials" aria-label="Partial images">
              {outcome.partials.map((src, index) => (
                <img key={index} src={src} alt={`Partial image ${index + 1}`} />
              ))}
            </div>
          ) : null}
          <div class="thumbs large">
            {outcome.images.map((src, index) => (
              <img key={index} src={src} alt={`Generated image ${index + 1}: ${prompt}`} />
            ))}
          </div>
          {outcome.taskId ? <TaskDetails id={outcome.taskId} session={session} /> : null}
        </section>
      ) : null}
    </div>
  );
}
