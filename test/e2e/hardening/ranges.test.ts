// Issue 9, item 27: /v1/files/… serves byte ranges as a static file server would (RFC 9110 §14):
// Accept-Ranges on every answer, 206 with Content-Range for one satisfiable range, 416 with
// `Content-Range: bytes */size` for an unsatisfiable one, the whole image when the header is not one
// valid byte range or If-Range names another version; the signed-URL check still comes first.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, generate, readResponse } from '../images-api-helpers.js';

let gateway: TestGateway;
let link: string;
let whole: Buffer;

beforeAll(async () => {
  gateway = await startTestGateway();
  const answer = await generate(gateway, { model: 'dall-e-2', prompt: 'a striped lighthouse', size: '512x512', response_format: 'url' });
  link = (answer.body as { data: Array<{ url: string }> }).data[0]?.url ?? '';
  const response = await fetch(link);
  whole = Buffer.from(await response.arrayBuffer());
});
afterAll(async () => {
  await gateway.close();
});

const get = (headers: Record<string, string>, url = link) => fetch(url, { headers });

describe('item 27: byte ranges on hosted images', () => {
  it('a whole GET says Accept-Ranges: bytes', async () => {
    const response = await get({});
    expect(response.status).toBe(200);
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.length).toBeGreaterThan(1000);
  });

  it('bytes=0-99 → 206 with exactly those bytes', async () => {
    const response = await get({ range: 'bytes=0-99' });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 0-99/${whole.length}`);
    expect(response.headers.get('content-length')).toBe('100');
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(whole.subarray(0, 100))).toBe(true);
  });

  it('an open-ended range resumes a download: the two halves make the image', async () => {
    const half = Math.floor(whole.length / 2);
    const first = Buffer.from(await (await get({ range: `bytes=0-${half - 1}` })).arrayBuffer());
    const rest = await get({ range: `bytes=${half}-` });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes ${half}-${whole.length - 1}/${whole.length}`);
    expect(Buffer.concat([first, Buffer.from(await rest.arrayBuffer())]).equals(whole)).toBe(true);
  });

  it('a suffix range gives the last bytes, an end past the image is clamped', async () => {
    const suffix = await get({ range: 'bytes=-12' });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(whole.subarray(whole.length - 12))).toBe(true);
    const clamped = await get({ range: `bytes=${whole.length - 5}-${whole.length + 1000}` });
    expect(clamped.headers.get('content-range')).toBe(`bytes ${whole.length - 5}-${whole.length - 1}/${whole.length}`);
  });

  it('a range past the end → 416 in OpenAI shape with Content-Range: bytes */size', async () => {
    const response = await readResponse(await get({ range: `bytes=${whole.length}-` }));
    expectOpenAIError(response, { status: 416, code: 'range_not_satisfiable', param: 'range' });
    expect(response.headers.get('content-range')).toBe(`bytes */${whole.length}`);
  });

  it('a header that is not one valid byte range is ignored: the whole image, 200', async () => {
    for (const header of ['bytes=0-1,5-6', 'items=0-10', 'bytes=9-3', 'bytes=abc']) {
      const response = await get({ range: header });
      expect(response.status, header).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(whole)).toBe(true);
    }
  });

  it('If-Range with the current ETag gives the range; with another one, the whole image', async () => {
    const etag = (await get({})).headers.get('etag') ?? '';
    expect((await get({ range: 'bytes=0-9', 'if-range': etag })).status).toBe(206);
    const stale = await get({ range: 'bytes=0-9', 'if-range': '"an-older-version"' });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).length).toBe(whole.length);
  });

  it('If-None-Match still answers 304 when a range is asked', async () => {
    const etag = (await get({})).headers.get('etag') ?? '';
    expect((await get({ range: 'bytes=0-9', 'if-none-match': etag })).status).toBe(304);
  });

  it('a range on a link with a bad signature is still a 403, never bytes', async () => {
    const forged = link.replace(/signature=[^&]+/, 'signature=forged');
    expectOpenAIError(await readResponse(await get({ range: 'bytes=0-9' }, forged)), { status: 403, code: 'invalid_signature' });
  });
});
