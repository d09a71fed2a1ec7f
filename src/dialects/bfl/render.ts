// A task as BFL's GET /v1/get_result answers it: `{id, status, result, progress, details, preview}`
// with the six statuses of BFL's `StatusResponse` enum (shared/specs/providers/bfl.md, from
// api.bfl.ai/openapi.json): "Task not found", "Pending", "Request Moderated", "Content Moderated",
// "Ready", "Error". `result.sample` is the gateway's signed URL of the image.

import type { TaskRecord } from '../../core/ports/task-store.js';
import type { ResultRenderer } from '../../tasks/stored-result.js';
import { resultBlobKeys, storedFields } from '../shared/submit-task.js';

export type BflStatus = 'Task not found' | 'Pending' | 'Request Moderated' | 'Content Moderated' | 'Ready' | 'Error';

export interface BflResult {
  id: string;
  status: BflStatus;
  result: Record<string, unknown> | null;
  progress: number | null;
  details: unknown;
  preview: null;
}

export function taskNotFound(id: string): BflResult {
  return { id, status: 'Task not found', result: null, progress: null, details: null, preview: null };
}

const moderationCodes = new Set(['content_policy_violation', 'moderation_blocked']);

export async function renderBflResult(task: TaskRecord, renderer: ResultRenderer): Promise<BflResult> {
  const base = { id: task.id, result: null, progress: null, details: null, preview: null } as const;
  switch (task.status) {
    case 'queued':
    case 'in_progress':
      // BFL's progress is a fraction ("progress": 0.4 in its examples).
      return { ...base, status: 'Pending', progress: Math.round(task.progress) / 100 };
    case 'succeeded': {
      const fields = storedFields(task);
      const [blobKey] = resultBlobKeys(task);
      const started = task.startedAt ?? task.createdAt;
      const ended = task.completedAt ?? started;
      const result: Record<string, unknown> = {
        sample: blobKey === undefined ? null : await renderer.urlFor(blobKey),
        prompt: fields.prompt ?? null,
        seed: fields.seed ?? null,
        start_time: started / 1000,
        end_time: ended / 1000,
        duration: (ended - started) / 1000,
      };
      return { ...base, status: 'Ready', result };
    }
    case 'failed': {
      const error = task.error;
      if (error !== null && moderationCodes.has(error.code ?? '')) {
        // "Request Moderated = input flagged; Content Moderated = output flagged", reasons in details["Moderation Reasons"].
        const moderation = (error as { moderation_details?: { moderation_stage?: string; categories?: string[] } }).moderation_details;
        const status: BflStatus = moderation?.moderation_stage === 'output' ? 'Content Moderated' : 'Request Moderated';
        return { ...base, status, details: { 'Moderation Reasons': moderation?.categories ?? [] } };
      }
      return { ...base, status: 'Error', details: error };
    }
    case 'canceled':
      return { ...base, status: 'Error', details: { message: 'The task was canceled.' } };
  }
}
