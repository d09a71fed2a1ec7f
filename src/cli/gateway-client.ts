// What the client subcommands of the CLI (generate, tasks) share: the gateway's URL and an API key
// from flags or the environment, and one call that turns an OpenAI-shaped error into a message.

import { CliFailure, type CliIo } from './admin-client.js';

export const clientOptions = {
  'base-url': { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ClientConnection {
  baseUrl: string;
  apiKey: string;
}

export function clientConnection(values: { 'base-url'?: string; 'api-key'?: string }, env: CliIo['env']): ClientConnection {
  const baseUrl = (values['base-url'] ?? env.IMAGEGATE_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const apiKey = values['api-key'] ?? env.IMAGEGATE_API_KEY;
  if (!apiKey) throw new CliFailure('an API key is needed: pass --api-key or set IMAGEGATE_API_KEY', 2);
  if (!/^https?:\/\//.test(baseUrl)) throw new CliFailure(`--base-url must be an http(s) URL, got '${baseUrl}'`, 2);
  return { baseUrl, apiKey };
}

/** Calls the gateway's API; answers the JSON body, or throws CliFailure with the gateway's own message. */
export async function apiRequest(io: CliIo, target: ClientConnection, method: string, path: string, body?: unknown): Promise<any> {
  let response: Response;
  try {
    response = await io.fetch(`${target.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new CliFailure(`cannot reach ${target.baseUrl}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const message = parsed?.error?.message ?? (text.slice(0, 200) || response.statusText);
    throw new CliFailure(`${message} (HTTP ${response.status})`);
  }
  return parsed;
}

export interface TaskObject {
  id: string;
  status: 'queued' | 'in_progress' | 'succeeded' | 'failed' | 'canceled';
  progress: number;
  model: string;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  result: { data: Array<{ url?: string; b64_json?: string; revised_prompt?: string }>; output_format?: string } | null;
  error: { message: string; code: string | null } | null;
}

export const isFinished = (task: TaskObject): boolean => task.status === 'succeeded' || task.status === 'failed' || task.status === 'canceled';
