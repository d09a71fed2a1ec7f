// Issue 9, item 6: data: URLs are parsed without recursion and with a bounded header, so a URL with
// millions of `;param` segments is a 400 naming the field rather than a stack overflow (500).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, postJson, solidImage } from '../images-api-helpers.js';

let gateway: TestGateway;
let png: Buffer;

beforeAll(async () => {
  gateway = await startTestGateway();
  png = await solidImage(64, 64, { colour: { r: 1, g: 2, b: 3 } });
});
afterAll(async () => {
  await gateway.close();
});

const edit = (image: string) => postJson(gateway, '/v1/images/edits', { model: 'gpt-image-1', prompt: 'p', images: [{ image_url: image }] });

describe('data: URL header bounds', () => {
  it('two million `;a=b` parameters → 400 naming the field, not a 500', async () => {
    const url = `data:image/png${';a=b'.repeat(2_000_000)};base64,${png.toString('base64')}`;
    const error = expectOpenAIError(await edit(url), { status: 400, code: 'invalid_image_url', param: 'images' });
    expect(error.message).toMatch(/header/);
  });

  it('a million bare `;` → 400', async () => {
    expectOpenAIError(await edit(`data:image/png${';'.repeat(1_000_000)}base64,AAAA`), { status: 400, code: 'invalid_image_url', param: 'images' });
  });

  it('a data: URL without a comma at all → 400', async () => {
    expectOpenAIError(await edit(`data:image/png;base64${'A'.repeat(100_000)}`), { status: 400, code: 'invalid_image_url', param: 'images' });
  });

  it('a data: URL that is not base64 → 400', async () => {
    expectOpenAIError(await edit('data:image/png,rawbytes'), { status: 400, code: 'invalid_image_url', param: 'images' });
  });

  it('a normal data: URL with a parameter still works', async () => {
    const response = await edit(`data:image/png;name=in.png;base64,${png.toString('base64')}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });
});
