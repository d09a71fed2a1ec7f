// `imagegate tasks list|get|cancel`: the asynchronous tasks of an API key on a running gateway.

import { parseArgs } from 'node:util';
import { asCommand, table } from '../admin-client.js';
import { clientConnection, clientOptions, type TaskObject } from '../gateway-client.js';
import { CliFailure, gatewayRequest, processIo, type CliIo } from '../gateway-http.js';
import type { CliCommand } from '../main.js';

const usage = `usage: imagegate tasks <list|get|cancel> [options]

  list [--status queued|in_progress|succeeded|failed|canceled] [--limit N] [--after TASK_ID]
  get TASK_ID
  cancel TASK_ID

common: --base-url URL (IMAGEGATE_BASE_URL, default http://127.0.0.1:8080)
        --api-key KEY (IMAGEGATE_API_KEY)   --json   print the API's JSON
`;

const options = {
  ...clientOptions,
  json: { type: 'boolean' },
  status: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
} as const;

const time = (seconds: number | null): string => (seconds === null ? '-' : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'));

/** Base64 images would flood a terminal: shown by their size instead. */
function withoutImageBytes(task: TaskObject): unknown {
  if (task.result === null) return task;
  const data = task.result.data.map((item) => (item.b64_json === undefined ? item : { ...item, b64_json: `<${Math.floor((item.b64_json.length * 3) / 4)} bytes, base64>` }));
  return { ...task, result: { ...task.result, data } };
}

function describeTask(task: TaskObject): string {
  const lines = [
    `id:         ${task.id}`,
    `status:     ${task.status}`,
    `progress:   ${task.progress}%`,
    `model:      ${task.model}`,
    `created:    ${time(task.created_at)}`,
    `started:    ${time(task.started_at)}`,
    `completed:  ${time(task.completed_at)}`,
  ];
  if (task.error) lines.push(`error:      ${task.error.message}${task.error.code ? ` (${task.error.code})` : ''}`);
  for (const [index, item] of (task.result?.data ?? []).entries()) {
    lines.push(`image ${index + 1}:    ${item.url ?? `base64, ${Math.floor(((item.b64_json ?? '').length * 3) / 4)} bytes`}`);
  }
  return `${lines.join('\n')}\n`;
}

async function runTasks(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [action, id] = positionals;
  if (values.help || action === undefined) {
    io.stdout.write(usage);
    return action === undefined && !values.help ? 2 : 0;
  }
  const target = clientConnection(values, io.env);
  const needId = (): string => {
    if (id === undefined) throw new CliFailure(`tasks ${action} needs a task id\n${usage}`, 2);
    return encodeURIComponent(id);
  };
  switch (action) {
    case 'list': {
      const query = new URLSearchParams();
      if (values.status !== undefined) query.set('status', values.status);
      if (values.limit !== undefined) query.set('limit', values.limit);
      if (values.after !== undefined) query.set('after', values.after);
      const page = (await gatewayRequest(io, target, 'GET', `/v1/images/tasks${query.size > 0 ? `?${query}` : ''}`)) as { data: TaskObject[]; has_more: boolean; last_id: string | null };
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ ...page, data: page.data.map(withoutImageBytes) }, null, 2)}\n`);
        return 0;
      }
      io.stdout.write(table(['ID', 'STATUS', 'PROGRESS', 'MODEL', 'CREATED'], page.data.map((task) => [task.id, task.status, `${task.progress}%`, task.model, time(task.created_at)])));
      if (page.has_more) io.stdout.write(`more: imagegate tasks list --after ${page.last_id}\n`);
      return 0;
    }
    case 'get':
    case 'cancel': {
      const path = action === 'get' ? `/v1/images/tasks/${needId()}` : `/v1/images/tasks/${needId()}/cancel`;
      const task = (await gatewayRequest(io, target, action === 'get' ? 'GET' : 'POST', path)) as TaskObject;
      io.stdout.write(values.json ? `${JSON.stringify(withoutImageBytes(task), null, 2)}\n` : describeTask(task));
      return 0;
    }
    default:
      throw new CliFailure(`unknown action '${action}'\n${usage}`, 2);
  }
}

export const tasksCommand: CliCommand = asCommand('list, show and cancel asynchronous tasks of an API key', processIo, runTasks);
