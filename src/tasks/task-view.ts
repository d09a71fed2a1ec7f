// The task object clients see: `{id, object: "image.task", status, progress, model, created_at,
// started_at, completed_at, result, error}`, with `result` rendered exactly as the synchronous body.

import type { OpenAIErrorObject } from '../core/errors.js';
import type { ImagesResponseBody } from '../core/images-response.js';
import type { TaskRecord, TaskStatus } from '../core/ports/task-store.js';
import { renderStoredResult, type ResultRenderer } from './stored-result.js';

export interface WebhookAttemptView {
  attempt: number;
  attempted_at: number;
  status_code: number | null;
  error: string | null;
}

export interface WebhookView {
  url: string;
  /** pending (task not finished or a retry is due), delivered, or failed (attempts exhausted or refused). */
  status: 'pending' | 'delivered' | 'failed';
  attempts: WebhookAttemptView[];
}

export interface TaskView {
  id: string;
  object: 'image.task';
  status: TaskStatus;
  progress: number;
  model: string;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  result: ImagesResponseBody | null;
  error: OpenAIErrorObject | null;
  webhook?: WebhookView;
}

const seconds = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

export async function renderTask(task: TaskRecord, renderer: ResultRenderer, webhook?: WebhookView): Promise<TaskView> {
  const view: TaskView = {
    id: task.id,
    object: 'image.task',
    status: task.status,
    progress: task.status === 'succeeded' ? 100 : task.progress,
    model: task.model,
    created_at: Math.floor(task.createdAt / 1000),
    started_at: seconds(task.startedAt),
    completed_at: seconds(task.completedAt),
    result: task.status === 'succeeded' && task.result !== null ? await renderStoredResult(task.result, renderer) : null,
    error: task.error,
  };
  if (webhook !== undefined) view.webhook = webhook;
  return view;
}
