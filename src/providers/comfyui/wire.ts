// The ComfyUI wire format: the `POST /prompt` answer and its validation errors, and a `/history/{id}`
// entry with the files each output node saved.
// Source: comfyanonymous/ComfyUI server.py (post_prompt: `{"prompt_id", "number", "node_errors"}`, or 400
// `{"error": {type, message, details, extra_info}, "node_errors": {id: {errors: [...], class_type}}}`;
// get_history) and execution.py (status messages, `execution_error` with `exception_message`).

import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const comfyProviderName = 'comfyui';

export interface SavedFile {
  filename: string;
  subfolder: string;
  type: string;
}

export interface HistoryEntry {
  status: 'success' | 'error';
  errorMessage?: string;
  outputs: Record<string, { images?: SavedFile[] }>;
}

/** The prompt id of a queued prompt. */
export function parseQueued(body: Buffer): string {
  const parsed = parseJson(body);
  const promptId = isRecord(parsed) ? parsed['prompt_id'] : undefined;
  if (typeof promptId !== 'string' || promptId === '') throw invalidUpstreamResponse(comfyProviderName, 'the queued prompt has no prompt_id');
  return promptId;
}

/** The message of a rejected prompt, with each node's errors (`node 6 (CLIPTextEncode): Required input is missing: text`). */
export function parsePromptError(body: Buffer): string | undefined {
  const parsed = parseJson(body);
  if (!isRecord(parsed)) return undefined;
  const parts: string[] = [];
  const error = parsed['error'];
  if (typeof error === 'string') parts.push(error);
  else if (isRecord(error) && typeof error['message'] === 'string') parts.push(error['message']);
  if (isRecord(parsed['node_errors'])) {
    for (const [node, detail] of Object.entries(parsed['node_errors'])) {
      if (!isRecord(detail) || !Array.isArray(detail['errors'])) continue;
      const messages = detail['errors'].filter(isRecord).map((item) => [item['message'], item['details']].filter((text) => typeof text === 'string' && text !== '').join(': '));
      parts.push(`node ${node} (${String(detail['class_type'] ?? '?')}): ${messages.join('; ')}`);
    }
  }
  return parts.length === 0 ? undefined : parts.join('; ');
}

/** The entry for `promptId`, or undefined while ComfyUI has not finished it (`{}`). */
export function readHistoryEntry(body: Buffer, promptId: string): HistoryEntry | undefined {
  const parsed = parseJson(body);
  if (!isRecord(parsed)) throw invalidUpstreamResponse(comfyProviderName, 'the history is not an object');
  const entry = parsed[promptId];
  if (entry === undefined) return undefined;
  if (!isRecord(entry) || !isRecord(entry['status'])) throw invalidUpstreamResponse(comfyProviderName, 'the history entry has no status');
  const status = entry['status'];
  if (status['status_str'] === 'error') {
    const messages = Array.isArray(status['messages']) ? status['messages'] : [];
    const failure = messages.find((message): message is [string, Record<string, unknown>] => Array.isArray(message) && message[0] === 'execution_error' && isRecord(message[1]));
    const detail = failure?.[1];
    const errorMessage = detail === undefined ? undefined : [detail['node_type'], detail['exception_message']].filter((text) => typeof text === 'string').join(': ');
    return { status: 'error', outputs: {}, ...(errorMessage ? { errorMessage } : {}) };
  }
  // A prompt still running is not in the history; one that is and has not completed did not succeed.
  if (status['completed'] !== true) return { status: 'error', outputs: {}, errorMessage: String(status['status_str'] ?? 'did not complete') };
  if (!isRecord(entry['outputs'])) throw invalidUpstreamResponse(comfyProviderName, 'the history entry has no outputs');
  return { status: 'success', outputs: entry['outputs'] as HistoryEntry['outputs'] };
}

/** Saved images (type `output`, from SaveImage nodes), in node order; previews (`temp`) are left out. */
export function outputImagesOf(entry: HistoryEntry): SavedFile[] {
  const files: SavedFile[] = [];
  const nodes = Object.keys(entry.outputs).sort((left, right) => Number(left) - Number(right) || left.localeCompare(right));
  for (const node of nodes) {
    for (const image of entry.outputs[node]?.images ?? []) {
      if (isRecord(image) && typeof image.filename === 'string' && image.type === 'output') {
        files.push({ filename: image.filename, subfolder: typeof image.subfolder === 'string' ? image.subfolder : '', type: image.type });
      }
    }
  }
  return files;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(comfyProviderName, 'the body is not JSON');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
