// A task as midjourney-proxy returns it. Fields from novicezk/midjourney-proxy `support/Task.java`
// (action, status, prompt, promptEn, description, state, submitTime, startTime, finishTime, imageUrl,
// progress as "NN%", failReason) and the relays' additions from trueai-org/midjourney-proxy
// (`buttons` of `CustomComponentModel {customId, emoji, label, style = 2, type = 2}`, `properties`).
// Statuses are midjourney-proxy's TaskStatus: NOT_START, SUBMITTED, MODAL, IN_PROGRESS, FAILURE,
// SUCCESS, CANCEL. An IMAGINE's `imageUrl` is one 2×2 grid of its four images, as Midjourney answers.

import sharp from 'sharp';
import type { TaskRecord, TaskStatus } from '../../core/ports/task-store.js';
import type { ResultRenderer } from '../../tasks/stored-result.js';
import { unpackJobs } from '../../tasks/upstream-jobs.js';
import { resultBlobKeys } from '../shared/submit-task.js';

export const midjourneyDialect = 'midjourney';

/** The provider that serves Midjourney itself (pass-through) rather than an image model emulating it. */
export const passThroughProvider = 'midjourney-proxy';

/** The upstream midjourney-proxy task behind a pass-through task: its id, channel, and (once finished) buttons. */
export function upstreamTaskOf(task: TaskRecord): { id: string; channel: string | undefined; buttons: MidjourneyButton[] } | undefined {
  const job = unpackJobs(task.upstreamJob)[0];
  if (job === undefined || job.provider !== passThroughProvider || typeof job.data.id !== 'string') return undefined;
  const buttons = Array.isArray(job.data.buttons) ? (job.data.buttons as MidjourneyButton[]) : [];
  return { id: job.data.id, channel: job.channel, buttons };
}

export type MidjourneyAction = 'IMAGINE' | 'UPSCALE' | 'VARIATION' | 'REROLL' | 'BLEND' | 'ZOOM' | 'PAN';

/** What a Midjourney task remembers of its submission (kept with the task's request). */
export interface MidjourneyData {
  action: MidjourneyAction;
  /** The prompt as sent, parameters included. */
  prompt: string;
  /** The button pressed (actions), '' for submissions. */
  customId: string;
  description: string;
  state: string;
  /** The task an action was pressed on. */
  parentId?: string;
  /** Which of the parent's four images (1–4). */
  index?: number;
  notifyHook?: string;
}

export interface MidjourneyButton {
  customId: string;
  emoji: string;
  label: string;
  style: number;
  type: number;
}

const statusOf: Record<TaskStatus, string> = {
  queued: 'SUBMITTED',
  in_progress: 'IN_PROGRESS',
  succeeded: 'SUCCESS',
  failed: 'FAILURE',
  canceled: 'CANCEL',
};

/** The hash part of a task's customIds ("MJ::JOB::upsample::1::<hash>"): the task id's own hex. */
export const buttonHash = (taskId: string): string => taskId.replace(/^task_/, '');

const button = (customId: string, label: string, emoji = ''): MidjourneyButton => ({ customId, emoji, label, style: 2, type: 2 });

/**
 * The buttons Midjourney shows, spelled as trueai-org/midjourney-proxy writes their customIds
 * (SubmitController.cs): "MJ::JOB::upsample::2::<hash>", "MJ::JOB::variation::2::<hash>",
 * "MJ::JOB::reroll::0::<hash>::SOLO", "MJ::JOB::high_variation::1::<hash>::SOLO",
 * "MJ::Outpaint::50::1::<hash>::SOLO", "MJ::JOB::pan_left::1::<hash>::SOLO".
 */
export function buttonsFor(task: TaskRecord, data: MidjourneyData, images: number): MidjourneyButton[] {
  if (task.status !== 'succeeded') return [];
  const hash = buttonHash(task.id);
  if (images >= 4) {
    return [
      ...[1, 2, 3, 4].map((index) => button(`MJ::JOB::upsample::${index}::${hash}`, `U${index}`)),
      button(`MJ::JOB::reroll::0::${hash}::SOLO`, '', '🔄'),
      ...[1, 2, 3, 4].map((index) => button(`MJ::JOB::variation::${index}::${hash}`, `V${index}`)),
    ];
  }
  if (data.action !== 'UPSCALE') return [];
  return [
    button(`MJ::JOB::high_variation::1::${hash}::SOLO`, 'Vary (Strong)', '🪄'),
    button(`MJ::JOB::low_variation::1::${hash}::SOLO`, 'Vary (Subtle)', '🪄'),
    button(`MJ::Outpaint::50::1::${hash}::SOLO`, 'Zoom Out 2x', '🔍'),
    button(`MJ::Outpaint::75::1::${hash}::SOLO`, 'Zoom Out 1.5x', '🔍'),
    button(`MJ::JOB::pan_left::1::${hash}::SOLO`, '', '⬅️'),
    button(`MJ::JOB::pan_right::1::${hash}::SOLO`, '', '➡️'),
    button(`MJ::JOB::pan_up::1::${hash}::SOLO`, '', '⬆️'),
    button(`MJ::JOB::pan_down::1::${hash}::SOLO`, '', '⬇️'),
  ];
}

export const gridBlobKey = (taskId: string): string => `mj/grids/${taskId}.png`;

/** Grids already stored; a miss reads the blob store, so another process's grid is found too. */
const knownGrids = new Set<string>();

/** The 2×2 grid of a four-image task, composed once and kept in the blob store under a key of its own. */
export async function ensureGrid(task: TaskRecord, renderer: ResultRenderer): Promise<string | undefined> {
  const key = gridBlobKey(task.id);
  if (knownGrids.has(key)) return key;
  if ((await renderer.blobs.get(key)) !== undefined) {
    knownGrids.add(key);
    return key;
  }
  const blobs = await Promise.all(resultBlobKeys(task).slice(0, 4).map((blobKey) => renderer.blobs.get(blobKey)));
  if (blobs.some((blob) => blob === undefined)) return undefined;
  const first = await sharp((blobs[0] as { data: Buffer }).data).metadata();
  const width = first.width ?? 1024;
  const height = first.height ?? 1024;
  const tiles = await Promise.all(blobs.map((blob) => sharp((blob as { data: Buffer }).data).resize(width, height, { fit: 'cover' }).png().toBuffer()));
  const grid = await sharp({ create: { width: width * 2, height: height * 2, channels: 3, background: '#000000' } })
    .composite(tiles.map((input, index) => ({ input, left: (index % 2) * width, top: Math.floor(index / 2) * height })))
    .png()
    .toBuffer();
  await renderer.blobs.put(key, grid, 'image/png');
  knownGrids.add(key);
  if (knownGrids.size > 10_000) knownGrids.clear();
  return key;
}

export async function renderMidjourneyTask(task: TaskRecord, renderer: ResultRenderer, data: MidjourneyData): Promise<Record<string, unknown>> {
  const blobKeys = task.status === 'succeeded' ? resultBlobKeys(task) : [];
  let imageUrl: string | null = null;
  if (blobKeys.length >= 4) {
    const grid = await ensureGrid(task, renderer);
    imageUrl = grid === undefined ? null : await renderer.urlFor(grid);
  } else if (blobKeys[0] !== undefined) {
    imageUrl = await renderer.urlFor(blobKeys[0]);
  }
  const progress = task.status === 'succeeded' ? '100%' : task.status === 'failed' || task.status === 'canceled' ? '' : `${Math.round(task.progress)}%`;
  return {
    id: task.id,
    action: data.action,
    customId: data.customId,
    prompt: data.prompt,
    promptEn: data.prompt,
    description: data.description,
    state: data.state,
    status: statusOf[task.status],
    progress,
    imageUrl,
    // Each image on its own as well (relays add these beside the grid).
    imageUrls: await Promise.all(blobKeys.map(async (blobKey) => ({ url: await renderer.urlFor(blobKey) }))),
    failReason: task.status === 'failed' ? (task.error?.message ?? 'The task failed.') : task.status === 'canceled' ? 'The task was canceled.' : null,
    submitTime: task.createdAt,
    startTime: task.startedAt,
    finishTime: task.completedAt,
    // Pass-through: the upstream's own buttons (their customIds go back to it through /submit/action).
    buttons: task.status !== 'succeeded' ? [] : (upstreamTaskOf(task)?.buttons ?? buttonsFor(task, data, blobKeys.length)),
    properties: { finalPrompt: data.prompt, ...(data.notifyHook === undefined ? {} : { notifyHook: data.notifyHook }) },
  };
}
