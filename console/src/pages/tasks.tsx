// Tasks (the drawing log): status, progress, the timeline from queued to stored and the webhook
// attempts, the images, and cancel / retry-webhook.

import { useState } from 'preact/hooks';
import { api, errorText, usd, when, type Session } from '../api.js';
import { ErrorMessage, Notice, Select, useLoad } from '../ui.js';
import { ImageLinks } from './logs.js';

const finished = new Set(['succeeded', 'failed', 'canceled']);
const kindLabels: Record<string, string> = {
  queued: 'queued',
  started: 'started by a worker',
  submitted: 'submitted upstream',
  polled: 'polled',
  stored: 'images stored',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'canceled',
  webhook: 'webhook attempt',
};

function describe(event: any): string {
  const detail = event.detail ?? {};
  if (event.kind === 'polled') return `progress ${detail.progress}%`;
  if (event.kind === 'submitted') return `${detail.provider ?? ''}${detail.channel ? ` on ${detail.channel}` : ''}`;
  if (event.kind === 'stored') return `${detail.images} image(s)`;
  if (event.kind === 'started') return `attempt ${detail.attempt ?? 1}${detail.resumed ? ', resumed' : ''}`;
  if (event.kind === 'failed') return `${detail.code ?? ''} ${detail.message ?? ''}`;
  if (event.kind === 'webhook') return `#${detail.attempt}: ${detail.status_code ?? 'no answer'}${detail.error ? ` (${detail.error})` : ''}`;
  return '';
}

export function TaskDetails({ id, session, onChanged }: { id: string; session: Session; onChanged?: () => void }) {
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const task = useLoad<any>(`/tasks/${encodeURIComponent(id)}`, 1_000);
  const data = task.data;
  const act = async (path: string, done: string) => {
    try {
      await api(path, { method: 'POST' });
      setMessage(done);
      setError(undefined);
      await task.reload();
      onChanged?.();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  if (!data) return <ErrorMessage error={task.error} />;
  return (
    <section class="panel" aria-label={`Task ${id}`}>
      <h2>Task {id}</h2>
      <p>
        <strong class={`status-${data.status}`} data-testid="task-status">
          {data.status}
        </strong>{' '}
        · {data.model} · <progress max={100} value={data.progress} aria-label="Progress" /> {data.progress}% · {usd(data.amount)}
      </p>
      {data.prompt ? <p class="prompt">{data.prompt}</p> : null}
      <h3>Timeline</h3>
      <ol class="timeline" aria-label="Timeline">
        {data.timeline.map((event: any, index: number) => (
          <li key={index}>
            <time>{new Date(event.at * 1000).toLocaleTimeString()}</time> <strong>{kindLabels[event.kind] ?? event.kind}</strong> {describe(event)}
          </li>
        ))}
      </ol>
      {data.webhook ? (
        <p>
          Webhook to <code>{data.webhook.url}</code>: {data.webhook.status} after {data.webhook.attempts} attempt(s)
        </p>
      ) : null}
      {data.error ? (
        <p role="alert" class="error">
          {data.error.code}: {data.error.message}
        </p>
      ) : null}
      <ImageLinks images={data.images} label={data.prompt ?? id} />
      <div class="toolbar">
        {!finished.has(data.status) ? (
          <button type="button" onClick={() => void act(`/tasks/${id}/cancel`, 'Canceled.')}>
            Cancel task
          </button>
        ) : null}
        {session.role === 'operator' && data.webhook && data.webhook.status !== 'pending' ? (
          <button type="button" onClick={() => void act(`/tasks/${id}/retry-webhook`, 'The webhook will be sent again.')}>
            Retry webhook
          </button>
        ) : null}
      </div>
      {message ? <Notice>{message}</Notice> : null}
      <ErrorMessage error={error} />
    </section>
  );
}

export function TasksPage({ session }: { session: Session }) {
  const [status, setStatus] = useState('');
  const [open, setOpen] = useState<string | undefined>();
  const tasks = useLoad<any>(`/tasks?limit=100${status ? `&status=${status}` : ''}`, 3_000);
  return (
    <div>
      <div class="inline">
        <Select label="Status" value={status} onChange={setStatus} options={['', 'queued', 'in_progress', 'succeeded', 'failed', 'canceled'].map((value) => ({ value, label: value || 'any' }))} />
      </div>
      <ErrorMessage error={tasks.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Task</th>
            {session.role === 'operator' ? <th scope="col">Key</th> : null}
            <th scope="col">Model</th>
            <th scope="col">Prompt</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Open</th>
          </tr>
        </thead>
        <tbody>
          {(tasks.data?.data ?? []).map((task: any) => (
            <tr key={task.id}>
              <td>{when(task.created_at)}</td>
              <td>
                <code>{task.id}</code>
              </td>
              {session.role === 'operator' ? <td>{task.key_id}</td> : null}
              <td>{task.model}</td>
              <td>
                <span class="prompt-cell">{task.prompt}</span>
              </td>
              <td class={`status-${task.status}`}>{task.status}</td>
              <td>{task.progress}%</td>
              <td>
                <button type="button" aria-label={`Open task ${task.id}`} onClick={() => setOpen(task.id)}>
                  Open
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open ? <TaskDetails key={open} id={open} session={session} onChanged={() => void tasks.reload()} /> : null}
    </div>
  );
}
