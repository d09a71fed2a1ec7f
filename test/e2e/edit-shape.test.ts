// Issue 10 item 7: an edit without `size` keeps its input image's shape (nearest size the model
// allows) on every provider, instead of the model's square default.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { edit, imagesOf, inputImage } from './providers-support.js';

let openai: OpenAIFake;
let bfl: BflFake;
let gateway: TestGateway;

beforeAll(async () => {
  [openai, bfl] = await Promise.all([startOpenAIFake(), startBflFake()]);
  gateway = await startTestGateway({
    channels: [
      { name: 'openai', provider: 'openai', base_url: `${openai.url}/v1`, api_key: defaultOpenAIFakeApiKey, models: ['gpt-image-1', 'gpt-image-2'] },
      { name: 'bfl', provider: 'bfl', base_url: bfl.url, api_key: bflFakeApiKey, models: ['flux-kontext-pro', 'flux-2-pro'], poll_interval_ms: 5 },
    ],
  });
});
afterAll(async () => {
  await gateway.close();
  await Promise.all([openai.close(), bfl.close()]);
});

const lastOpenAIForm = async () => {
  const request = openai.requests.filter((candidate) => candidate.path === '/v1/images/edits').at(-1);
  return new Response(request?.body, { headers: { 'content-type': String(request?.headers['content-type']) } }).formData();
};
const lastBflBody = () => bfl.requests.filter((request) => request.method === 'POST').at(-1)?.json as Record<string, unknown>;

describe('edits without a size keep the input image’s shape', () => {
  it('gpt-image-1: a landscape input gets 1536x1024, not 1024x1024', async () => {
    const answer = await edit(gateway, { model: 'gpt-image-1', prompt: 'add snow', quality: 'low' }, [await inputImage(300, 200)]);
    expect(answer.status).toBe(200);
    expect((await lastOpenAIForm()).get('size')).toBe('1536x1024');
    const [image] = await imagesOf(gateway, answer);
    expect([image?.width, image?.height]).toEqual([1536, 1024]);
  });

  it('gpt-image-2: a portrait input keeps its ratio at the default pixel count', async () => {
    await edit(gateway, { model: 'gpt-image-2', prompt: 'add snow', quality: 'low' }, [await inputImage(200, 300)]);
    const [width, height] = String((await lastOpenAIForm()).get('size')).split('x').map(Number);
    expect((width ?? 0) / (height ?? 1)).toBeCloseTo(2 / 3, 1);
  });

  it('flux-kontext-pro: the input’s 3:2 goes as aspect_ratio 3:2, not 1:1', async () => {
    const answer = await edit(gateway, { model: 'flux-kontext-pro', prompt: 'add snow' }, [await inputImage(300, 200)]);
    expect(answer.status).toBe(200);
    expect(lastBflBody()['aspect_ratio']).toBe('3:2');
  });

  it('flux-2-pro: pixels in the input’s shape, not 1024x1024', async () => {
    await edit(gateway, { model: 'flux-2-pro', prompt: 'add snow' }, [await inputImage(300, 200)]);
    const body = lastBflBody();
    expect((body['width'] as number) / (body['height'] as number)).toBeCloseTo(1.5, 1);
  });

  it('an asked size still wins', async () => {
    await edit(gateway, { model: 'gpt-image-1', prompt: 'add snow', quality: 'low', size: '1024x1024' }, [await inputImage(300, 200)]);
    expect((await lastOpenAIForm()).get('size')).toBe('1024x1024');
  });
});
