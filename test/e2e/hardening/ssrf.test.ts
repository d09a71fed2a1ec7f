// Issue 9, items 3 and 4: operator trust (channel base URLs, network.allow_hosts) covers only the
// traffic the gateway sends to a channel on the channel's behalf. A URL from a request body (an edit's
// image URL, callback_url / webhook_url) is public-only unless network.user_url_allow_hosts names its
// host, and callback URLs are judged by that one rule both when submitted and when delivered.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAddress } from '../../../src/providers/shared/http-client.js';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../../src/testing/fakes/openai.js';
import { makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer } from '../../../src/testing/fakes/shared.js';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, generate, postJson } from '../images-api-helpers.js';

let upstream: OpenAIFake;
/** An internal service the operator trusts for channel traffic (network.allow_hosts). */
let internal: FakeServer;
/** A host the operator opened for user URLs (network.user_url_allow_hosts): images and a webhook receiver. */
let userHost: FakeServer;
let gateway: TestGateway;
let png: Buffer;

/** Fake DNS: one name that resolves to a private address, one to a public one. */
async function resolveHost(hostname: string): Promise<readonly ResolvedAddress[]> {
  const answers: Record<string, ResolvedAddress[]> = {
    'internal.example': [{ address: '10.1.2.3', family: 4 }],
    'sneaky.example': [{ address: '127.0.0.1', family: 4 }],
    'hooks.example': [{ address: '93.184.216.34', family: 4 }],
    localhost: [{ address: '127.0.0.1', family: 4 }],
  };
  const answer = answers[hostname.replace(/\.$/, '').toLowerCase()];
  if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return answer;
}

beforeAll(async () => {
  png = await makeTestImage(256, 256, 'png');
  upstream = await startOpenAIFake();
  internal = await startFakeServer((_request, response) => sendJson(response, 200, { secret: 'internal data' }));
  userHost = await startFakeServer((request, response) => {
    if (request.path === '/image.png') sendBytes(response, 200, png, 'image/png');
    else sendJson(response, 200, { received: true });
  });
  gateway = await startTestGateway(
    {
      allowPrivateNetworks: false,
      allowHosts: [new URL(internal.url).host],
      userUrlAllowHosts: [new URL(userHost.url).host],
      channels: [{ name: 'openai', provider: 'openai', base_url: `${upstream.url}/v1`, api_key: defaultOpenAIFakeApiKey, models: ['gpt-image-1'] }],
    },
    { resolveHost },
  );
});
afterAll(async () => {
  await gateway?.close();
  await Promise.all([upstream?.close(), internal?.close(), userHost?.close()]);
});

const editWithUrl = (url: string) => postJson(gateway, '/v1/images/edits', { model: 'gpt-image-1', prompt: 'p', images: [{ image_url: url }] });

describe('item 3: user URLs do not inherit operator trust', () => {
  it('channel traffic to the private upstream works (the operator configured it)', async () => {
    const response = await generate(gateway, { model: 'gpt-image-1', prompt: 'a lighthouse', size: '1024x1024', quality: 'low' });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(upstream.requests.some((request) => request.path.startsWith('/v1/images/generations'))).toBe(true);
  });

  it("an edit image URL on the channel's own host is refused, and the upstream never sees it", async () => {
    const before = upstream.requests.length;
    const error = expectOpenAIError(await editWithUrl(`${upstream.url}/v1/models`), { status: 400, code: 'invalid_image_url', param: 'images' });
    expect(error.message).not.toMatch(/HTTP \d{3}/);
    expect(upstream.requests.slice(before).map((request) => request.path)).toEqual([]);
  });

  it('an edit image URL on a network.allow_hosts host is refused, and that host never sees it', async () => {
    expectOpenAIError(await editWithUrl(`${internal.url}/admin`), { status: 400, code: 'invalid_image_url', param: 'images' });
    expect(internal.requests).toEqual([]);
  });

  it('a name that resolves to a private address is refused', async () => {
    expectOpenAIError(await editWithUrl('http://internal.example/a.png'), { status: 400, code: 'invalid_image_url', param: 'images' });
  });

  it('a host in network.user_url_allow_hosts is fetched', async () => {
    const response = await editWithUrl(`${userHost.url}/image.png`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(userHost.requests.some((request) => request.path === '/image.png')).toBe(true);
  });
});

describe('item 4: one callback_url rule at submit and at delivery', () => {
  const port = () => new URL(userHost.url).port;
  const submit = (extra: Record<string, unknown>) => generate(gateway, { model: 'gpt-image-1', prompt: 'p', quality: 'low', async: true, ...extra });

  const refused: Array<[string, () => string]> = [
    ['http://localhost.:P/ (trailing dot)', () => `http://localhost.:${port()}/hook`],
    ['http://LOCALHOST:P/', () => `http://LOCALHOST:${port()}/hook`],
    ['http://[::127.0.0.1]:P/ (IPv4-compatible IPv6)', () => `http://[::127.0.0.1]:${port()}/hook`],
    ['http://[::ffff:127.0.0.1]:P/ (IPv4-mapped IPv6)', () => `http://[::ffff:127.0.0.1]:${port()}/hook`],
    ['http://evil.com\\@127.0.0.1:P/ (parser confusion)', () => `http://evil.com\\@127.0.0.1:${port()}/hook`],
    ['a name resolving to 10.1.2.3', () => 'http://internal.example/hook'],
    ['a name resolving to 127.0.0.1', () => 'http://sneaky.example/hook'],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a hexadecimal loopback literal', () => 'http://0x7f000001/hook'],
    ['a name that does not resolve', () => 'http://does-not-resolve.example/hook'],
    ["the channel's own host", () => `${upstream.url}/v1/images/generations`],
    ['a network.allow_hosts host', () => `${internal.url}/hook`],
  ];
  for (const [label, url] of refused) {
    it(`${label} → 400 naming callback_url at submit`, async () => {
      expectOpenAIError(await submit({ callback_url: url() }), { status: 400, code: 'invalid_value', param: 'callback_url' });
    });
  }

  it('the webhook_url alias follows the same rule and is named in the error', async () => {
    expectOpenAIError(await submit({ webhook_url: 'http://internal.example/hook' }), { status: 400, code: 'invalid_value', param: 'webhook_url' });
  });

  it('a public name is accepted at submit', async () => {
    const response = await submit({ callback_url: 'https://hooks.example/imagegate' });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  });

  it('a literal host in network.user_url_allow_hosts is accepted at submit and called at delivery', async () => {
    const response = await submit({ callback_url: `http://127.0.0.1:${port()}/delivered` });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    // Wait for the delivery itself (an event), with a bound that only catches a hang.
    for (let waited = 0; waited < 200 && !userHost.requests.some((request) => request.path === '/delivered'); waited += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const delivery = userHost.requests.find((request) => request.path === '/delivered');
    expect(delivery?.method).toBe('POST');
    expect((delivery?.json as { status?: string } | undefined)?.status).toBe('succeeded');
  });
});
