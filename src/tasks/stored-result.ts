// The result a task (or an idempotent request) keeps: the ImagesResponse body with blob keys in
// place of URLs and base64, rendered afresh for each reader so URLs are newly signed and no image
// bytes ever sit in the database.

import { randomUUID } from 'node:crypto';
import { GatewayError } from '../core/errors.js';
import type { GenerationOutcome } from '../core/generate-images.js';
import type { ImageRequest } from '../core/image-request.js';
import { renderImagesResponse, type ImagesResponseBody } from '../core/images-response.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import { fileExtensions, outputContentTypes } from '../images/codec.js';

export interface StoredImagesResult {
  created: number;
  data: Array<{ blob_key: string; revised_prompt?: string }>;
  /** How `data` is rendered: signed URLs or base64. */
  response_format: 'url' | 'b64_json';
  [field: string]: unknown;
}

/** Stores the images a run returned without storing them (a synchronous b64_json request that became a task). */
export async function persistImages(outcome: GenerationOutcome, request: ImageRequest, blobs: BlobStore, now: number): Promise<GenerationOutcome> {
  const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '/');
  const images = await Promise.all(
    outcome.images.map(async (image) => {
      if (image.blobKey !== undefined) return image;
      const blobKey = `images/${day}/${randomUUID()}.${fileExtensions[request.outputFormat]}`;
      await blobs.put(blobKey, image.data, outputContentTypes[request.outputFormat]);
      // The fields copied, not spread: a relayed image keeps `data` on its prototype (core/generate-images.ts).
      return { data: image.data, base64: image.base64, blobKey, revisedPrompt: image.revisedPrompt, hasAlpha: image.hasAlpha };
    }),
  );
  return { ...outcome, images };
}

/** The stored form of a response; every image must already have a blob key. */
export function toStoredResult(outcome: GenerationOutcome, request: ImageRequest): StoredImagesResult {
  // Rendered as if for URLs with the blob key itself as the "URL", so every other field is exactly the synchronous one.
  // The fields rendering reads, in a literal, not the request spread and extended (docs/architecture.md: no hidden class per request).
  const asUrls = { responseFormat: 'url' as const, model: request.model, background: request.background, outputFormat: request.outputFormat, quality: request.quality, size: request.size };
  const body = renderImagesResponse(outcome, asUrls, (blobKey) => blobKey);
  const data = body.data.map((item, index) => {
    const blobKey = outcome.images[index]?.blobKey;
    if (blobKey === undefined || item.url !== blobKey) throw new Error('toStoredResult: every image must be stored before the result is kept');
    const stored: { blob_key: string; revised_prompt?: string } = { blob_key: blobKey };
    if (item.revised_prompt !== undefined) stored.revised_prompt = item.revised_prompt;
    return stored;
  });
  // Copied onto a fresh object, not spread and extended (docs/architecture.md: no hidden class per request).
  const stored = Object.assign({}, body) as StoredImagesResult;
  stored.data = data;
  stored.response_format = request.responseFormat;
  return stored;
}

export interface ResultRenderer {
  /** Absolute URL of a blob (signed gateway link or presigned object URL). */
  urlFor(blobKey: string): Promise<string>;
  blobs: BlobStore;
}

/** The synchronous response body again: URLs signed now, or base64 read from the blob store. */
export async function renderStoredResult(stored: Record<string, unknown>, renderer: ResultRenderer): Promise<ImagesResponseBody> {
  const { response_format: responseFormat, data, ...rest } = stored as StoredImagesResult;
  const rendered = await Promise.all(
    (data ?? []).map(async (item) => {
      let image: { url?: string; b64_json?: string; revised_prompt?: string };
      if (responseFormat === 'url') {
        image = { url: await renderer.urlFor(item.blob_key) };
      } else {
        const blob = await renderer.blobs.get(item.blob_key);
        if (!blob) throw new GatewayError('not_found', 'The images of this result are no longer stored (they passed the retention period).');
        image = { b64_json: blob.data.toString('base64') };
      }
      if (item.revised_prompt !== undefined) image.revised_prompt = item.revised_prompt;
      return image;
    }),
  );
  // `created` first and `data` second, as in the synchronous body; the rest in stored order.
  const { created, ...others } = rest;
  return { created: created as number, data: rendered, ...others } as ImagesResponseBody;
}
