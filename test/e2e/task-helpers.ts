// Helpers shared by the task, idempotency, webhook and restart tests: JSON over real HTTP, polling a
// task to an end, and a read-only look into a gateway's SQLite file.

import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(
  baseUrl: string,
  path: string,
  options: { method?: string; key?: string; json?: unknown; headers?: Record<string, string>; form?: FormData } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | FormData | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = options.form;
  }
  const response = await fetch(`${baseUrl}${path}`, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the text itself.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

const finished = new Set(['succeeded', 'failed', 'canceled']);

/** Polls a task until it is finished (or `until` says so); fails the test after `timeoutMs`. */
export async function waitForTask(
  baseUrl: string,
  key: string,
  taskId: string,
  options: { timeoutMs?: number; until?: (task: { status: string; progress: number }) => boolean } = {},
): Promise<any> {
  const until = options.until ?? ((task) => finished.has(task.status));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const response = await call(baseUrl, `/v1/images/tasks/${taskId}`, { key });
    if (response.status !== 200) throw new Error(`GET task ${taskId} answered ${response.status}: ${JSON.stringify(response.body)}`);
    if (until(response.body)) return response.body;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${response.body.status} after ${options.timeoutMs ?? 15_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a query against the gateway's database file, read-only (the gateway keeps writing to it). */
export function queryDatabase<T>(dataDir: string, query: string, ...parameters: unknown[]): T[] {
  const database = new Database(join(dataDir, 'imagegate.sqlite'), { readonly: true, fileMustExist: true });
  try {
    database.pragma('busy_timeout = 5000');
    return database.prepare(query).all(...parameters) as T[];
  } finally {
    database.close();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
