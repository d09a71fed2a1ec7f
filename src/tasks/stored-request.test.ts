// A task's request survives the database: images go to the blob store and come back, every other
// field of the validated request round-trips, and the result renders exactly as the synchronous body.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from '../core/catalog/catalog.js';
import { checkEditInputs } from '../core/image-inputs.js';
import { parseImageRequest } from '../core/image-request.js';
import { renderImagesResponse } from '../core/images-response.js';
import { LocalBlobStore } from '../storage/blob/local/local-blob-store.js';
import { inputBytesOf, reservationIdOf, restoreTaskRequest, storeTaskRequest } from './stored-request.js';
import { renderStoredResult, toStoredResult } from './stored-result.js';

const catalog = createCatalog(readCatalogFile());
let folder: string;
let blobs: LocalBlobStore;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-stored-'));
  blobs = new LocalBlobStore({ directory: folder });
});
afterEach(async () => rm(folder, { recursive: true, force: true }));

describe('stored task requests and results', () => {
  it('round-trips an edit with its image and mask through JSON and the blob store', async () => {
    const image = await sharp({ create: { width: 64, height: 64, channels: 4, background: '#123456' } }).png().toBuffer();
    const mask = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const request = parseImageRequest(catalog, 'edit', { model: 'gpt-image-1', prompt: 'add a hat', size: '1024x1024', quality: 'low', seed: 7, custom_option: 'kept' });
    const checked = await checkEditInputs(request.model, [{ data: image, field: 'image', filename: 'a.png' }], { data: mask, field: 'mask' });
    request.images = checked.images;
    request.mask = checked.mask;

    const stored = await storeTaskRequest(request, { taskId: 'task_1', reservationId: 'task_1', blobs, now: Date.UTC(2026, 10, 21), callback: false });
    const json = JSON.parse(JSON.stringify(stored)) as Record<string, unknown>;
    expect(JSON.stringify(json)).not.toContain(image.toString('base64').slice(0, 40));
    expect(stored.images[0]?.blob_key).toMatch(/^uploads\/2026\/11\/21\/task_1\/image-0-/);
    expect(reservationIdOf(json, 'task_1')).toBe('task_1');

    const restored = await restoreTaskRequest(json, catalog, blobs);
    expect(restored.images[0]?.data.equals(image)).toBe(true);
    expect(restored.mask?.data.equals(mask)).toBe(true);
    expect({ ...restored, images: [], mask: undefined }).toEqual({ ...JSON.parse(JSON.stringify({ ...request, images: [], mask: undefined })), model: request.model, images: [], mask: undefined });
    expect(restored.providerOptions).toEqual({ custom_option: 'kept' });
    // What a worker will hold while the task runs, known before it reads anything back.
    expect(inputBytesOf(json)).toBe(image.length + mask.length);
  });

  it('counts a stored ref without its size as its pixels x 4, and a generation as nothing', async () => {
    const legacy = { images: [{ blob_key: 'uploads/a.png', media_type: 'image/png', width: 100, height: 50 }], mask: null };
    expect(inputBytesOf(legacy)).toBe(100 * 50 * 4);
    const request = parseImageRequest(catalog, 'generate', { model: 'dall-e-2', prompt: 'x' });
    const stored = JSON.parse(JSON.stringify(await storeTaskRequest(request, { taskId: 't', reservationId: 't', blobs, now: Date.now(), callback: false }))) as Record<string, unknown>;
    expect(inputBytesOf(stored)).toBe(0);
    expect(inputBytesOf({ images: 'not a list', mask: 7 })).toBe(0);
  });

  it('fails clearly when the model left the catalog or an input image is gone', async () => {
    const request = parseImageRequest(catalog, 'generate', { model: 'dall-e-2', prompt: 'x' });
    const stored = JSON.parse(JSON.stringify(await storeTaskRequest(request, { taskId: 't', reservationId: 't', blobs, now: Date.now(), callback: false }))) as Record<string, unknown>;
    (stored.fields as Record<string, unknown>).model = 'retired-model';
    await expect(restoreTaskRequest(stored, catalog, blobs)).rejects.toMatchObject({ code: 'model_not_found' });
    await expect(restoreTaskRequest({ ...stored, version: 99 }, catalog, blobs)).rejects.toMatchObject({ code: 'server_error' });
  });

  it('renders a stored result exactly as the synchronous body, for base64 and for URLs', async () => {
    const request = parseImageRequest(catalog, 'generate', { model: 'gpt-image-1', prompt: 'x', size: '1024x1536' });
    const data = Buffer.from('not really a png but bytes');
    await blobs.put('images/a.png', data, 'image/png');
    const outcome = { images: [{ data, blobKey: 'images/a.png', revisedPrompt: 'revised' }], warnings: [], provider: 'offline', channel: 'offline', attempts: 1, createdAt: 1_700_000_000, usage: { inputTokens: 5, outputTokens: 10 } };
    const stored = JSON.parse(JSON.stringify(toStoredResult(outcome, request))) as Record<string, unknown>;
    expect(JSON.stringify(stored)).not.toContain(data.toString('base64'));
    const urlFor = (key: string) => `https://gw.example/v1/files/${key}?signed`;
    const renderer = { urlFor: async (key: string) => urlFor(key), blobs };
    expect(await renderStoredResult(stored, renderer)).toEqual(renderImagesResponse(outcome, request, urlFor));
    const asUrl = { ...request, responseFormat: 'url' as const };
    expect(await renderStoredResult(JSON.parse(JSON.stringify(toStoredResult(outcome, asUrl))), renderer)).toEqual(renderImagesResponse(outcome, asUrl, urlFor));
  });
});
