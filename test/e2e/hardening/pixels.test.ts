// Issue 9, item 5: decompression bombs. A small PNG that declares a huge canvas is refused from its
// header, before any decode, with a 400 naming the field; the cap is images.max_input_megapixels.

import { crc32, deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, multipartForm, postForm, postJson, solidImage } from '../images-api-helpers.js';

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A valid PNG header declaring width × height (8-bit RGBA), followed by about `payloadBytes` of
 * compressed zero rows: a small file whose full decode would need width × height × 4 bytes.
 */
function bombPng(width: number, height: number, payloadBytes = 64 * 1024): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(6, 9); // colour type RGBA
  // Zero bytes compress about 1000:1: a few dozen megabytes of rows make a stream of `payloadBytes`.
  const zeros = deflateSync(Buffer.alloc(Math.min(payloadBytes * 1000, 64 * 1024 * 1024)), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', zeros), chunk('IEND', Buffer.alloc(0))]);
}

let gateway: TestGateway;
let small: TestGateway;
let bomb: Buffer;

beforeAll(async () => {
  gateway = await startTestGateway();
  // A gateway whose operator lowered the cap to 1 megapixel.
  small = await startTestGateway({ maxInputPixels: 1_000_000 });
  bomb = bombPng(16383, 16383);
});
afterAll(async () => {
  await Promise.all([gateway.close(), small.close()]);
});

describe('item 5: decoded pixels are capped from the header', () => {
  it('the bomb is small on the wire', () => {
    expect(bomb.length).toBeLessThan(1024 * 1024);
  });

  it('an edit (multipart) with a 16383×16383 PNG → 400 image_too_large naming image', async () => {
    const response = await postForm(gateway, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: bomb, filename: 'bomb.png' }]));
    const error = expectOpenAIError(response, { status: 400, code: 'image_too_large', param: 'image' });
    expect(error.message).toMatch(/16383x16383/);
    expect(error.message).toMatch(/pixels/);
  });

  it('an edit (JSON data: URL) with the bomb → 400 naming images', async () => {
    const response = await postJson(gateway, '/v1/images/edits', { model: 'gpt-image-1', prompt: 'x', images: [{ image_url: `data:image/png;base64,${bomb.toString('base64')}` }] });
    expectOpenAIError(response, { status: 400, code: 'image_too_large', param: 'images' });
  });

  it('a mask that is a bomb → 400 naming mask', async () => {
    const image = await solidImage(64, 64);
    const response = await postForm(gateway, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: image }, { field: 'mask', data: bombPng(16383, 16383, 16 * 1024) }]));
    expectOpenAIError(response, { status: 400, code: 'image_too_large', param: 'mask' });
  });

  it('a variation with a square bomb under 4 MB → 400 naming image', async () => {
    const response = await postForm(gateway, '/v1/images/variations', multipartForm({ model: 'dall-e-2' }, [{ field: 'image', data: bombPng(16000, 16000, 16 * 1024) }]));
    expectOpenAIError(response, { status: 400, code: 'image_too_large', param: 'image' });
  });

  it('20 bombs in a row are all refused and the gateway keeps serving', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => postForm(gateway, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: bomb }]))),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(400));
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('images.max_input_megapixels lowers the cap: 1001×1000 refused, 1000×1000 edited', async () => {
    const over = await postForm(small, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: await solidImage(1001, 1000) }]));
    expectOpenAIError(over, { status: 400, code: 'image_too_large', param: 'image', mentions: ['1000000 pixels'] });
    const within = await postForm(small, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'x', size: '1024x1024', quality: 'low' }, [{ field: 'image', data: await solidImage(1000, 1000) }]));
    expect(within.status, JSON.stringify(within.body)).toBe(200);
  });
});
