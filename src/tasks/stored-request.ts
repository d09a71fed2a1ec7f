// What a task keeps of its request: the validated ImageRequest as JSON, with input images moved to
// the blob store (keys, never bytes, in the database), and how a worker rebuilds it.

import { randomUUID } from 'node:crypto';
import type { Catalog } from '../core/catalog/catalog.js';
import { GatewayError } from '../core/errors.js';
import type { ImageRequest } from '../core/image-request.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { InputImage } from '../core/ports/image-model.js';

/** Bumped when the shape changes; a worker refuses versions it does not know rather than guess. */
const storedRequestVersion = 1;

export interface StoredImageRef {
  blob_key: string;
  media_type: InputImage['mediaType'];
  width: number;
  height: number;
  /** The encoded image's size, what a worker holds in memory while the task runs (absent in tasks stored before it was kept). */
  bytes?: number;
  filename?: string;
}

export interface StoredTaskRequest {
  version: number;
  /** The billing reservation: the task id for asynchronous submissions, the request id for a synchronous request handed over. */
  reservation_id: string;
  /** Every ImageRequest field but the model (kept as its id) and the images. */
  fields: Record<string, unknown>;
  images: StoredImageRef[];
  mask: StoredImageRef | null;
  /**
   * Whether a webhook was registered for the task (always before the task row exists, so the answer
   * never changes): without one, finishing or showing the task skips the webhook store. Absent in
   * tasks stored before this field existed, which are treated as possibly having one.
   */
  callback?: boolean;
}

const extensions: Record<InputImage['mediaType'], string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

async function storeImage(blobs: BlobStore, prefix: string, name: string, image: InputImage): Promise<StoredImageRef> {
  const blobKey = `${prefix}/${name}-${randomUUID()}.${extensions[image.mediaType]}`;
  await blobs.put(blobKey, image.data, image.mediaType);
  const ref: StoredImageRef = { blob_key: blobKey, media_type: image.mediaType, width: image.width, height: image.height, bytes: image.data.length };
  if (image.filename !== undefined) ref.filename = image.filename;
  return ref;
}

/** Stores the input images under `uploads/<day>/<task id>/` and returns the JSON the task keeps. */
export async function storeTaskRequest(
  request: ImageRequest,
  options: { taskId: string; reservationId: string; blobs: BlobStore; now: number; callback: boolean },
): Promise<StoredTaskRequest> {
  const day = new Date(options.now).toISOString().slice(0, 10).replaceAll('-', '/');
  const prefix = `uploads/${day}/${options.taskId}`;
  const images = await Promise.all(request.images.map((image, index) => storeImage(options.blobs, prefix, `image-${index}`, image)));
  const mask = request.mask === undefined ? null : await storeImage(options.blobs, prefix, 'mask', request.mask);
  // Every field but the images, the model as its id; a JSON round trip drops undefined fields, exactly
  // as the database will. The replacer edits the request's own fields (`this` is their holder) instead
  // of a copy: a rest pattern and spread make a hidden class per task, and a copy built key by key
  // past a dozen fields becomes a dictionary (docs/architecture.md).
  const fields = JSON.parse(
    JSON.stringify(request, function (this: unknown, key: string, value: unknown) {
      if (this !== request) return value;
      if (key === 'images' || key === 'mask') return undefined;
      return key === 'model' ? request.model.id : value;
    }),
  ) as Record<string, unknown>;
  return { version: storedRequestVersion, reservation_id: options.reservationId, fields, images, mask, callback: options.callback };
}

/**
 * Deletes the input images storeTaskRequest stored, for a submission refused before its task was
 * written (their keys are this submission's own: nothing else refers to them). A failure to delete is
 * left to the retention sweep, which removes blobs past the retention period anyway.
 */
export async function discardStoredImages(stored: StoredTaskRequest, blobs: BlobStore): Promise<void> {
  const refs = stored.mask === null ? stored.images : [...stored.images, stored.mask];
  await Promise.all(refs.map((ref) => blobs.delete(ref.blob_key).catch(() => undefined)));
}

/**
 * The bytes of input images a worker will hold while running the task, read from the stored refs
 * without touching the blob store. A ref stored before sizes were kept counts as its pixels × 4, more
 * than any encoding of them takes; a shape this version does not know counts as nothing (restoring it
 * fails anyway).
 */
export function inputBytesOf(stored: Record<string, unknown>): number {
  const refs = [...(Array.isArray(stored.images) ? stored.images : []), stored.mask];
  let total = 0;
  for (const ref of refs) {
    if (typeof ref !== 'object' || ref === null) continue;
    const { bytes, width, height } = ref as Partial<StoredImageRef>;
    if (typeof bytes === 'number' && bytes >= 0) total += bytes;
    else if (typeof width === 'number' && typeof height === 'number') total += width * height * 4;
  }
  return total;
}

/** Reads the reservation id without touching the blob store, so even a task that cannot be rebuilt is released. */
export function reservationIdOf(stored: Record<string, unknown>, taskId: string): string {
  return typeof stored.reservation_id === 'string' ? stored.reservation_id : taskId;
}

/** False only when the task is known to have no webhook (see StoredTaskRequest.callback). */
export function mayHaveWebhook(stored: Record<string, unknown>): boolean {
  return stored.callback !== false;
}

async function loadImage(blobs: BlobStore, ref: StoredImageRef): Promise<InputImage> {
  const blob = await blobs.get(ref.blob_key);
  if (!blob) throw new GatewayError('server_error', 'An input image of this task is no longer stored (it passed the retention period).', { retryable: false });
  const image: InputImage = { data: blob.data, mediaType: ref.media_type, width: ref.width, height: ref.height };
  if (ref.filename !== undefined) image.filename = ref.filename;
  return image;
}

/** Rebuilds the ImageRequest a task was submitted with, against today's catalog. */
export async function restoreTaskRequest(stored: Record<string, unknown>, catalog: Catalog, blobs: BlobStore): Promise<ImageRequest> {
  const value = stored as unknown as StoredTaskRequest;
  if (value.version !== storedRequestVersion || typeof value.fields !== 'object' || value.fields === null) {
    throw new GatewayError('server_error', `This task was stored in a format this gateway version cannot read (version ${String(value.version)}).`, { retryable: false });
  }
  const modelId = value.fields.model;
  const resolved = typeof modelId === 'string' ? catalog.get(modelId) : undefined;
  if (!resolved) {
    throw new GatewayError('model_not_found', `The model '${String(modelId)}' of this task is no longer in the catalog.`, { param: 'model' });
  }
  const images = await Promise.all((value.images ?? []).map((ref) => loadImage(blobs, ref)));
  const mask = value.mask ? await loadImage(blobs, value.mask) : undefined;
  // Copied onto a fresh object and completed, not spread and extended (docs/architecture.md: no hidden class per request).
  const request = Object.assign({}, value.fields) as unknown as ImageRequest;
  request.model = resolved.model;
  request.images = images;
  request.mask = mask;
  return request;
}
