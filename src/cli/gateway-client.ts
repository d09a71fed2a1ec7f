// What the client subcommands of the CLI (generate, tasks) share: the gateway's URL and an API key
// from flags or the environment, and the task object they read back.

import { gatewayTarget, type CliIo, type GatewayTarget } from './gateway-http.js';

export const clientOptions = {
  'base-url': { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function clientConnection(values: { 'base-url'?: string; 'api-key'?: string }, env: CliIo['env']): GatewayTarget {
  return gatewayTarget(values['base-url'], env, values['api-key'] ?? env.IMAGEGATE_API_KEY, 'an API key is needed: pass --api-key or set IMAGEGATE_API_KEY');
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
