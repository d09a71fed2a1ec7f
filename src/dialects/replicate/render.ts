// A task as Replicate's prediction object. The shape is Replicate's own example
// (replicate.com/docs/topics/predictions):
//   {"id", "model", "version", "input", "logs": "", "output", "error": null, "status": "succeeded",
//    "created_at": "2023-09-08T16:19:34.765994Z", "data_removed": false, "started_at", "completed_at",
//    "metrics": {"predict_time": 0.012683, "total_time": 0.025366},
//    "urls": {"cancel": ".../v1/predictions/<id>/cancel", "get": ".../v1/predictions/<id>"}}
// with statuses starting | processing | succeeded | failed | canceled, and `output` a list of URLs for
// models with `num_outputs` and one URL otherwise — here URLs of images hosted by the gateway.

import type { TaskRecord, TaskStatus } from '../../core/ports/task-store.js';
import type { ResultRenderer } from '../../tasks/stored-result.js';
import { resultBlobKeys, storedFields } from '../shared/submit-task.js';

export const replicateDialect = 'replicate';

/** What a prediction remembers of its creation (kept with the task's request). */
export interface ReplicateDialectData {
  model: string;
  version: string | null;
  input: Record<string, unknown>;
  listOutput: boolean;
  webhook?: string;
  webhook_events_filter?: string[];
}

const statusOf: Record<TaskStatus, string> = {
  queued: 'starting',
  in_progress: 'processing',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'canceled',
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A task the OpenAI API created, shown as a prediction in the list: its stored request as `input`. */
function dataOfOtherTask(task: TaskRecord): ReplicateDialectData {
  const fields = storedFields(task);
  const input: Record<string, unknown> = {};
  for (const field of ['prompt', 'n', 'size', 'aspect_ratio', 'output_format', 'seed']) if (fields[field] !== undefined) input[field] = fields[field];
  return { model: task.model, version: null, input, listOutput: true };
}

export function isReplicateData(data: Record<string, unknown>): data is Record<string, unknown> & ReplicateDialectData {
  return typeof data.model === 'string' && typeof data.input === 'object' && data.input !== null;
}

export async function renderPrediction(task: TaskRecord, renderer: ResultRenderer, apiBase: string, dialectData?: Record<string, unknown>): Promise<Record<string, unknown>> {
  const data = dialectData !== undefined && isReplicateData(dialectData) ? dialectData : dataOfOtherTask(task);
  const urls = renderer;
  let output: unknown = null;
  const metrics: Record<string, number> = {};
  if (task.status === 'succeeded') {
    const links = await Promise.all(resultBlobKeys(task).map((blobKey) => urls.urlFor(blobKey)));
    output = data.listOutput ? links : (links[0] ?? null);
    metrics.image_count = links.length;
  }
  if (task.completedAt !== null) {
    if (task.startedAt !== null) metrics.predict_time = (task.completedAt - task.startedAt) / 1000;
    metrics.total_time = (task.completedAt - task.createdAt) / 1000;
  }
  const prediction: Record<string, unknown> = {
    id: task.id,
    model: data.model,
    version: data.version,
    input: data.input,
    logs: '',
    output,
    data_removed: false,
    error: task.status === 'failed' ? (task.error?.message ?? 'The prediction failed.') : null,
    status: statusOf[task.status],
    source: 'api',
    created_at: iso(task.createdAt),
    started_at: iso(task.startedAt),
    completed_at: iso(task.completedAt),
    urls: {
      get: `${apiBase}/predictions/${task.id}`,
      cancel: `${apiBase}/predictions/${task.id}/cancel`,
    },
    metrics,
  };
  if (data.webhook !== undefined) prediction.webhook = data.webhook;
  if (data.webhook_events_filter !== undefined) prediction.webhook_events_filter = data.webhook_events_filter;
  return prediction;
}
