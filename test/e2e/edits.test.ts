// POST /v1/images/edits end to end: multipart exactly as the openai SDK and curl send it, the JSON
// form with data: and http URLs (through the SSRF guard), and every per-model input limit.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import {
  decodeImage,
  decodeItem,
  expectOpenAIError,
  imagesBody,
  multipartForm,
  paddedPng,
  postForm,
  postJson,
  readResponse,
  solidImage,
  warningsOf,
} from './images-api-helpers.js';

let gateway: TestGateway;
let client: OpenAI;
/** Serves test images over plain http on 127.0.0.1, and counts what it was asked for. */
let imageServer: Server;
let imageServerUrl: string;
const imageServerHits: string[] = [];
let servedPng: Buffer;

beforeAll(async () => {
  servedPng = await solidImage(320, 320, { colour: { r: 10, g: 200, b: 90 } });
  imageServer = createServer((request, response) => {
    imageServerHits.push(request.url ?? '');
    if (request.url === '/image.png') {
      response.writeHead(200, { 'content-type': 'image/png', 'content-length': servedPng.length });
      response.end(servedPng);
    } else {
      response.writeHead(404).end('not here');
    }
  });
  await new Promise<void>((resolve) => imageServer.listen(0, '127.0.0.1', resolve));
  imageServerUrl = `http://127.0.0.1:${(imageServer.address() as AddressInfo).port}`;
  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gateway.close();
  await new Promise<void>((resolve) => imageServer.close(() => resolve()));
});

const edit = (form: FormData) => postForm(gateway, '/v1/images/edits', form);
const editJson = (body: unknown) => postJson(gateway, '/v1/images/edits', body);
const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

/** A multipart body built by hand, as curl sends `-F image=@a.png -F image=@b.png` (repeated `image`). */
function curlStyleMultipart(fields: Record<string, string>, files: Array<{ field: string; data: Buffer; filename: string }>): { body: Buffer; contentType: string } {
  const boundary = '------------------------curl7e3f1a';
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const file of files) {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      file.data,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

async function postRaw(body: Buffer | string, contentType: string) {
  const response = await fetch(`${gateway.url}/v1/images/edits`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': contentType },
    body,
  });
  return readResponse(response);
}

describe('multipart as the SDK sends it', () => {
  it('a single `image` part labelled application/octet-stream, n as text: sniffed and edited', async () => {
    const source = await solidImage(400, 300, { format: 'jpeg', channels: 3 });
    const result = await client.images.edit({ model: 'gpt-image-1', prompt: 'add a hat', image: await toFile(source, 'photo.bin'), n: 2, size: '1536x1024' });
    expect(result.data).toHaveLength(2);
    expect(result.size).toBe('1536x1024');
    const images = await Promise.all((result.data ?? []).map((item) => decodeItem(item)));
    for (const image of images) expect([image.format, image.width, image.height]).toEqual(['png', 1536, 1024]);
    expect(result.data?.[0]?.b64_json).not.toBe(result.data?.[1]?.b64_json);
  });

  it('repeated `image[]` parts with a mask, output_format and compression as text', async () => {
    const first = await solidImage(256, 256);
    const second = await solidImage(128, 200, { format: 'webp' });
    const mask = await solidImage(256, 256, { alpha: 0 });
    const result = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'blend them',
      image: [await toFile(first, 'a.bin'), await toFile(second, 'b.bin')],
      mask: await toFile(mask, 'mask.bin'),
      output_format: 'jpeg',
      output_compression: 40,
      quality: 'low',
    });
    expect(result.output_format).toBe('jpeg');
    expect(result.quality).toBe('low');
    const image = await decodeImage(Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64'));
    expect([image.format, image.width, image.height]).toEqual(['jpeg', 1024, 1024]);
  });

  it('a transparent background edit returns a PNG with real alpha where the mask opens the image', async () => {
    const result = await client.images.edit({
      model: 'gpt-image-1.5',
      prompt: 'replace the backdrop',
      image: await toFile(await solidImage(200, 200, { channels: 3 }), 'x.bin'),
      mask: await toFile(await solidImage(200, 200, { alpha: 0 }), 'mask.bin'),
      background: 'transparent',
    });
    expect(result.background).toBe('transparent');
    const image = await decodeImage(Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64'));
    expect(image.hasAlpha).toBe(true);
    expect(image.minAlpha).toBeLessThan(255);
  });

  it('response_format url is honoured on edits', async () => {
    const form = multipartForm({ model: 'gpt-image-1', prompt: 'x', response_format: 'url', size: '1024x1536' }, [{ field: 'image', data: await solidImage(64, 64) }]);
    const body = imagesBody(await edit(form));
    expect(body.data[0]?.url?.startsWith(gateway.url)).toBe(true);
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.width, image.height]).toEqual([1024, 1536]);
  });

  it('flux-kontext-pro edits honour aspect_ratio sent as a text field', async () => {
    const form = multipartForm({ model: 'flux-kontext-pro', prompt: 'x', aspect_ratio: '16:9', response_format: 'b64_json' }, [{ field: 'image', data: await solidImage(300, 300) }]);
    const image = await decodeItem(imagesBody(await edit(form)).data[0] ?? {});
    expect(Math.abs((image.width ?? 0) / (image.height ?? 1) - 16 / 9)).toBeLessThan(0.02);
  });
});

describe('multipart as curl sends it', () => {
  it('repeated `image` parts (not image[]) are all taken', async () => {
    const images = [await solidImage(256, 256), await solidImage(300, 200, { format: 'jpeg', channels: 3 })];
    const { body, contentType } = curlStyleMultipart({ model: 'gpt-image-1', prompt: 'merge', n: '1', size: '1024x1024' }, images.map((data, index) => ({ field: 'image', data, filename: `${index}.png` })));
    const response = imagesBody(await postRaw(body, contentType));
    const image = await decodeItem(response.data[0] ?? {});
    expect([image.width, image.height]).toEqual([1024, 1024]);
  });

  it('17 repeated `image` parts are counted: more than 16 is a 400', async () => {
    const small = await solidImage(16, 16);
    const { body, contentType } = curlStyleMultipart({ model: 'gpt-image-1', prompt: 'x' }, Array.from({ length: 17 }, (_, index) => ({ field: 'image', data: small, filename: `${index}.png` })));
    expectOpenAIError(await postRaw(body, contentType), { status: 400, code: 'invalid_value', param: 'image', mentions: ['16', '17'] });
  });

  it('16 images are allowed', async () => {
    const small = await solidImage(16, 16);
    const form = multipartForm({ model: 'gpt-image-1', prompt: 'x', size: '1024x1024' }, Array.from({ length: 16 }, () => ({ field: 'image[]', data: small })));
    expect(imagesBody(await edit(form)).data).toHaveLength(1);
  });

  it('a body without a boundary, or cut off mid-part, is a 400 (not a 500)', async () => {
    expectOpenAIError(await postRaw('prompt=x', 'multipart/form-data'), { status: 400, code: 'invalid_value', mentions: ['multipart'] });
    const truncated =
      '--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: application/octet-stream\r\n\r\n\x89PNG';
    expectOpenAIError(await postRaw(truncated, 'multipart/form-data; boundary=XYZ'), { status: 400, code: 'invalid_value', mentions: ['multipart'] });
  });

  it('an image sent as a text field, or a file in an unknown field, is a 400 naming it', async () => {
    const asText = new FormData();
    asText.append('prompt', 'x');
    asText.append('image', 'not-a-file');
    expectOpenAIError(await edit(asText), { status: 400, code: 'invalid_value', param: 'image' });
    const unknownFile = multipartForm({ prompt: 'x' }, [{ field: 'picture', data: await solidImage(8, 8) }]);
    expectOpenAIError(await edit(unknownFile), { status: 400, code: 'invalid_value', param: 'picture', mentions: ['image[]', 'mask'] });
  });
});

describe('the JSON form', () => {
  it('takes images as data URLs ({image_url}) with a data-URL mask', async () => {
    const image = await solidImage(200, 200);
    const mask = await solidImage(200, 200, { alpha: 0 });
    const body = imagesBody(await editJson({ model: 'gpt-image-1', prompt: 'add stars', images: [{ image_url: dataUrl(image) }], mask: { image_url: dataUrl(mask) }, size: '1024x1536' }));
    const decoded = await decodeItem(body.data[0] ?? {});
    expect([decoded.format, decoded.width, decoded.height]).toEqual(['png', 1024, 1536]);
  });

  it('fetches an http URL through the guarded client (the harness allows private networks)', async () => {
    imageServerHits.length = 0;
    const body = imagesBody(await editJson({ model: 'gpt-image-1', prompt: 'x', images: [{ image_url: `${imageServerUrl}/image.png` }, `${imageServerUrl}/image.png`] }));
    expect(body.data).toHaveLength(1);
    expect(imageServerHits).toEqual(['/image.png', '/image.png']);
  });

  it('a URL that answers 404 is a 400 failed_to_download_image', async () => {
    expectOpenAIError(await editJson({ model: 'gpt-image-1', prompt: 'x', images: [{ image_url: `${imageServerUrl}/missing.png` }] }), {
      status: 400, code: 'failed_to_download_image', param: 'images', mentions: ['404'],
    });
  });

  it('a URL that is neither http(s) nor data: is a 400 invalid_image_url', async () => {
    expectOpenAIError(await editJson({ model: 'gpt-image-1', prompt: 'x', images: [{ image_url: 'file:///etc/passwd' }] }), {
      status: 400, code: 'invalid_image_url', param: 'images',
    });
  });

  it('file_id references are a 400 that says to send image_url', async () => {
    expectOpenAIError(await editJson({ model: 'gpt-image-1', prompt: 'x', images: [{ file_id: 'file-abc123' }] }), {
      status: 400, code: 'invalid_value', param: 'images', mentions: ['image_url'],
    });
  });

  it('no images at all is a 400 missing_required_parameter', async () => {
    expectOpenAIError(await editJson({ model: 'gpt-image-1', prompt: 'x' }), { status: 400, code: 'missing_required_parameter', param: 'image' });
  });

  it('the SSRF guard refuses a URL to 127.0.0.1 when private networks are not allowed', async () => {
    const guarded = await startTestGateway({ allowPrivateNetworks: false });
    try {
      imageServerHits.length = 0;
      const response = await postJson(guarded, '/v1/images/edits', { model: 'gpt-image-1', prompt: 'x', images: [{ image_url: `${imageServerUrl}/image.png` }] });
      expectOpenAIError(response, { status: 400, code: 'invalid_image_url', param: 'images' });
      // Refused before any connection: the local server never saw the request.
      expect(imageServerHits).toEqual([]);
      const metadata = await postJson(guarded, '/v1/images/edits', { model: 'gpt-image-1', prompt: 'x', images: ['http://169.254.169.254/latest/meta-data'] });
      expectOpenAIError(metadata, { status: 400, code: 'invalid_image_url' });
    } finally {
      await guarded.close();
    }
  });
});

describe('input limits', () => {
  it('dall-e-2: one square RGBA PNG is edited, served as a URL by default', async () => {
    const form = multipartForm({ model: 'dall-e-2', prompt: 'x', size: '256x256' }, [{ field: 'image', data: await solidImage(300, 300, { alpha: 0.5 }) }]);
    const body = imagesBody(await edit(form));
    const image = await decodeItem({ url: body.data[0]?.url ?? '' });
    expect([image.format, image.width, image.height]).toEqual(['png', 256, 256]);
  });

  it('dall-e-2: an RGB image with a mask is fine; without one it is a 400', async () => {
    const rgb = await solidImage(128, 128, { channels: 3 });
    const mask = await solidImage(128, 128, { alpha: 0 });
    const withMask = await edit(multipartForm({ model: 'dall-e-2', prompt: 'x', size: '256x256', response_format: 'b64_json' }, [{ field: 'image', data: rgb }, { field: 'mask', data: mask }]));
    expect(withMask.status).toBe(200);
    const without = await edit(multipartForm({ model: 'dall-e-2', prompt: 'x' }, [{ field: 'image', data: rgb }]));
    expectOpenAIError(without, { status: 400, code: 'invalid_image', param: 'image', mentions: ['RGBA', 'got RGB'] });
  });

  it('dall-e-2: a non-square image, a JPEG, or two images are each a 400', async () => {
    expectOpenAIError(await edit(multipartForm({ model: 'dall-e-2', prompt: 'x' }, [{ field: 'image', data: await solidImage(256, 200) }])), {
      status: 400, code: 'invalid_image', param: 'image', mentions: ['square', '256x200'],
    });
    expectOpenAIError(await edit(multipartForm({ model: 'dall-e-2', prompt: 'x' }, [{ field: 'image', data: await solidImage(64, 64, { format: 'jpeg', channels: 3 }) }])), {
      status: 400, code: 'invalid_image_format', param: 'image', mentions: ['png', 'jpeg'],
    });
    const square = await solidImage(64, 64);
    expectOpenAIError(await edit(multipartForm({ model: 'dall-e-2', prompt: 'x' }, [{ field: 'image[]', data: square }, { field: 'image[]', data: square }])), {
      status: 400, code: 'invalid_value', param: 'image[]', mentions: ['at most 1'],
    });
  });

  it('dall-e-2: the PNG must be under 4 MB: 4 MB exactly is image_too_large, one byte less passes', async () => {
    const fourMegabytes = 4 * 1024 * 1024;
    const tooLarge = await edit(multipartForm({ model: 'dall-e-2', prompt: 'x' }, [{ field: 'image', data: await paddedPng(64, fourMegabytes) }]));
    expectOpenAIError(tooLarge, { status: 400, code: 'image_too_large', param: 'image', mentions: ['4 MB'] });
    const justUnder = await edit(multipartForm({ model: 'dall-e-2', prompt: 'x', size: '256x256' }, [{ field: 'image', data: await paddedPng(64, fourMegabytes - 1) }]));
    expect(justUnder.status, JSON.stringify(justUnder.body)).toBe(200);
  });

  it('an image over the model limit is a 400 image_too_large (flux-kontext-pro: 20 MB)', async () => {
    const response = await edit(multipartForm({ model: 'flux-kontext-pro', prompt: 'x' }, [{ field: 'image', data: await paddedPng(64, 20 * 1024 * 1024 + 10) }]));
    expectOpenAIError(response, { status: 400, code: 'image_too_large', param: 'image', mentions: ['flux-kontext-pro'] });
  });

  it('a mask with other dimensions than the first image is a 400 naming both', async () => {
    const response = await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: await solidImage(256, 256) }, { field: 'mask', data: await solidImage(128, 128, { alpha: 0 }) }]));
    expectOpenAIError(response, { status: 400, code: 'invalid_image', param: 'mask', mentions: ['256x256', '128x128'] });
  });

  it('a mask that is not a PNG is a 400 invalid_image_format', async () => {
    const response = await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: await solidImage(64, 64) }, { field: 'mask', data: await solidImage(64, 64, { format: 'webp' }) }]));
    expectOpenAIError(response, { status: 400, code: 'invalid_image_format', param: 'mask', mentions: ['PNG', 'webp'] });
  });

  it('a mask without alpha marks nothing and is a 400', async () => {
    const response = await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: await solidImage(64, 64) }, { field: 'mask', data: await solidImage(64, 64, { channels: 3 }) }]));
    expectOpenAIError(response, { status: 400, code: 'invalid_image', param: 'mask', mentions: ['alpha'] });
  });

  it('garbage bytes are a 400 invalid_image_format, whatever the part says it is', async () => {
    const response = await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: Buffer.from('this is not an image at all'), type: 'image/png', filename: 'fake.png' }]));
    expectOpenAIError(response, { status: 400, code: 'invalid_image_format', param: 'image' });
    const truncatedPng = (await solidImage(64, 64)).subarray(0, 40);
    expectOpenAIError(await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: truncatedPng }])), {
      status: 400, code: 'invalid_image_format', param: 'image',
    });
  });

  it('a data URL with garbage is a 400 invalid_image_format too', async () => {
    expectOpenAIError(await editJson({ model: 'gpt-image-1', prompt: 'x', images: [{ image_url: `data:image/png;base64,${Buffer.from('nope').toString('base64')}` }] }), {
      status: 400, code: 'invalid_image_format', param: 'images',
    });
  });

  it('an empty file part is a 400 invalid_image', async () => {
    expectOpenAIError(await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x' }, [{ field: 'image', data: Buffer.alloc(0) }])), {
      status: 400, code: 'invalid_image', param: 'image',
    });
  });

  it('an edit without a prompt is a 400 naming prompt', async () => {
    expectOpenAIError(await edit(multipartForm({ model: 'gpt-image-1' }, [{ field: 'image', data: await solidImage(32, 32) }])), {
      status: 400, code: 'missing_required_parameter', param: 'prompt',
    });
  });

  it('multipart numbers that are not numbers are a 400 naming the field', async () => {
    expectOpenAIError(await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x', n: 'two' }, [{ field: 'image', data: await solidImage(32, 32) }])), {
      status: 400, code: 'invalid_value', param: 'n', mentions: ['between 1 and 10'],
    });
  });

  it('unknown multipart fields reach the provider and are reported', async () => {
    const response = await edit(multipartForm({ model: 'gpt-image-1', prompt: 'x', strength: '0.6' }, [{ field: 'image', data: await solidImage(32, 32) }]));
    imagesBody(response);
    expect(warningsOf(response)).toContain('strength');
  });
});
