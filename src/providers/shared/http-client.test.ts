// Behaviour of the guarded outbound client against real HTTP servers on 127.0.0.1.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendBytes, sendJson, startFakeServer, type FakeServer } from '../../testing/fakes/shared.js';
import { createHttpClient, isPublicAddress, type GuardedHttpClient, type ResolvedAddress } from './http-client.js';
import { HttpClientError, type HttpClientErrorReason } from './types.js';

let origin: FakeServer;
let other: FakeServer;
const remotePorts: number[] = [];
const clients: GuardedHttpClient[] = [];

function client(config: Parameters<typeof createHttpClient>[0] = {}): GuardedHttpClient {
  const created = createHttpClient(config);
  clients.push(created);
  return created;
}

async function failureReason(promise: Promise<unknown>): Promise<HttpClientErrorReason> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(HttpClientError);
  return (error as HttpClientError).reason;
}

beforeAll(async () => {
  other = await startFakeServer((request, response) => {
    sendJson(response, 200, { server: 'other', authorization: request.headers['authorization'] ?? null, xKey: request.headers['x-key'] ?? null });
  });
  origin = await startFakeServer((request, response, raw) => {
    const path = request.path;
    if (path === '/hello') {
      remotePorts.push(raw.socket.remotePort ?? -1);
      sendJson(response, 200, { hello: 'world' }, { 'x-upstream': 'fake' });
    } else if (path === '/echo') {
      sendJson(response, 200, {
        method: request.method,
        contentType: request.headers['content-type'] ?? null,
        body: request.body.toString('utf8'),
      });
    } else if (path === '/redirect-same') {
      response.writeHead(302, { location: '/hello' }).end();
    } else if (path === '/see-other') {
      response.writeHead(303, { location: '/echo' }).end();
    } else if (path === '/temporary') {
      response.writeHead(307, { location: '/echo' }).end();
    } else if (path === '/redirect-other') {
      response.writeHead(307, { location: `${other.url}/landing` }).end();
    } else if (path === '/redirect-metadata') {
      response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    } else if (path === '/redirect-private') {
      response.writeHead(302, { location: 'http://10.0.0.1/internal' }).end();
    } else if (path === '/loop') {
      response.writeHead(302, { location: '/loop' }).end();
    } else if (path === '/big-declared') {
      sendBytes(response, 200, Buffer.alloc(4096, 1), 'application/octet-stream');
    } else if (path === '/big-chunked') {
      // No content-length: the limit must be enforced while reading.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let index = 0; index < 8; index += 1) response.write(Buffer.alloc(1024, 2));
      response.end();
    } else if (path === '/hang') {
      // Never answers; the client has to give up by itself.
    } else {
      sendJson(response, 404, { error: 'not found' });
    }
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((created) => created.close()));
});

afterAll(async () => {
  await Promise.all([origin.close(), other.close()]);
});

describe('createHttpClient with allowPrivateNetworks', () => {
  it('fetches from a private address and returns status, lower-cased headers, body and final URL', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/hello`);
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('fake');
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body.toString('utf8'))).toEqual({ hello: 'world' });
    expect(response.url).toBe(`${origin.url}/hello`);
  });

  it('resolves for error statuses instead of rejecting', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/missing`);
    expect(response.status).toBe(404);
  });

  it('reuses a kept-alive connection for consecutive requests to the same origin', async () => {
    const http = client({ allowPrivateNetworks: true });
    remotePorts.length = 0;
    await http.request(`${origin.url}/hello`);
    // undici hands the connection back to its pool on the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    await http.request(`${origin.url}/hello`);
    expect(remotePorts).toHaveLength(2);
    expect(remotePorts[0]).toBe(remotePorts[1]);
  });

  it('serialises a json body as a POST labelled application/json', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/echo`, { json: { prompt: 'a fox', n: 2 } });
    const echoed = JSON.parse(response.body.toString('utf8'));
    expect(echoed.method).toBe('POST');
    expect(echoed.contentType).toBe('application/json');
    expect(JSON.parse(echoed.body)).toEqual({ prompt: 'a fox', n: 2 });
  });

  it('sends FormData as multipart with the boundary in the content type', async () => {
    const form = new FormData();
    form.set('prompt', 'a fox');
    form.set('image', new Blob([Buffer.from('PNGDATA')], { type: 'image/png' }), 'fox.png');
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/echo`, {
      method: 'POST',
      body: form,
      headers: { 'Content-Type': 'multipart/form-data' },
    });
    const echoed = JSON.parse(response.body.toString('utf8'));
    expect(echoed.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(echoed.body).toContain('name="prompt"');
    expect(echoed.body).toContain('a fox');
    expect(echoed.body).toContain('filename="fox.png"');
    expect(echoed.body).toContain('PNGDATA');
  });

  it('follows a same-origin redirect and reports the final URL', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/redirect-same`);
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${origin.url}/hello`);
  });

  it('turns a POST into a GET without body after a 303', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/see-other`, { json: { secret: 'payload' } });
    const echoed = JSON.parse(response.body.toString('utf8'));
    expect(echoed.method).toBe('GET');
    expect(echoed.body).toBe('');
    expect(echoed.contentType).toBeNull();
  });

  it('keeps method and body across a 307', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/temporary`, { json: { prompt: 'kept' } });
    const echoed = JSON.parse(response.body.toString('utf8'));
    expect(echoed.method).toBe('POST');
    expect(JSON.parse(echoed.body)).toEqual({ prompt: 'kept' });
  });

  it('drops credentials when a redirect leads to another origin', async () => {
    const response = await client({ allowPrivateNetworks: true }).request(`${origin.url}/redirect-other`, {
      headers: { authorization: 'Bearer sk-secret', 'x-key': 'bfl-secret' },
    });
    const seen = JSON.parse(response.body.toString('utf8'));
    expect(seen).toEqual({ server: 'other', authorization: null, xKey: null });
  });

  it('fails with too_many_redirects on a redirect loop', async () => {
    expect(await failureReason(client({ allowPrivateNetworks: true, maxRedirects: 2 }).request(`${origin.url}/loop`))).toBe('too_many_redirects');
  });
});

describe('SSRF guard', () => {
  it.each([
    ['loopback IPv4', () => `${origin.url}/hello`],
    ['localhost by name', () => `${origin.url.replace('127.0.0.1', 'localhost')}/hello`],
    ['loopback IPv6', () => 'http://[::1]/'],
    ['IPv4-mapped IPv6 loopback', () => 'http://[::ffff:127.0.0.1]/'],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['private 10/8', () => 'http://10.0.0.1/'],
    ['private 192.168/16', () => 'https://192.168.1.1/'],
    ['CGNAT', () => 'http://100.64.0.1/'],
    ['unspecified', () => 'http://0.0.0.0/'],
    ['unique-local IPv6', () => 'http://[fd00::1]/'],
  ])('blocks %s', async (_label, url) => {
    const before = origin.requests.length;
    expect(await failureReason(client().request(url()))).toBe('blocked_address');
    expect(origin.requests.length).toBe(before);
  });

  it('checks the address a hostname resolves to, at connect time', async () => {
    const asked: string[] = [];
    const resolveHost = async (hostname: string): Promise<readonly ResolvedAddress[]> => {
      asked.push(hostname);
      return [{ address: '169.254.169.254', family: 4 }];
    };
    expect(await failureReason(client({ resolveHost }).request('http://metadata.example.test/latest/'))).toBe('blocked_address');
    expect(asked).toEqual(['metadata.example.test']);
  });

  it('blocks a hostname whose every answer is private, even in both families', async () => {
    const resolveHost = async (): Promise<readonly ResolvedAddress[]> => [
      { address: '10.1.2.3', family: 4 },
      { address: 'fe80::1', family: 6 },
    ];
    expect(await failureReason(client({ resolveHost }).request('https://intranet.example.test/'))).toBe('blocked_address');
  });

  it('blocks a redirect from an allowed host to a loopback address', async () => {
    const http = client({ allowHosts: [new URL(origin.url).host] });
    const before = other.requests.length;
    expect(await failureReason(http.request(`${origin.url}/redirect-other`))).toBe('blocked_address');
    expect(other.requests.length).toBe(before);
  });

  it('blocks redirects from an allowed host to metadata and private addresses', async () => {
    const http = client({ allowHosts: [new URL(origin.url).host] });
    expect(await failureReason(http.request(`${origin.url}/redirect-metadata`))).toBe('blocked_address');
    expect(await failureReason(http.request(`${origin.url}/redirect-private`))).toBe('blocked_address');
  });

  it('lets an operator-configured host:port through, and only that port', async () => {
    const http = client({ allowHosts: [new URL(origin.url).host] });
    const response = await http.request(`${origin.url}/hello`);
    expect(response.status).toBe(200);
    expect(await failureReason(http.request(`${other.url}/landing`))).toBe('blocked_address');
  });

  it('lets a hostname entry through on any port', async () => {
    const http = client({ allowHosts: ['localhost'] });
    const response = await http.request(`${origin.url.replace('127.0.0.1', 'localhost')}/hello`);
    expect(response.status).toBe(200);
  });

  it('rejects non-http schemes and URLs with credentials', async () => {
    const http = client({ allowPrivateNetworks: true });
    expect(await failureReason(http.request('file:///etc/passwd'))).toBe('invalid_url');
    expect(await failureReason(http.request('ftp://example.com/file'))).toBe('invalid_url');
    expect(await failureReason(http.request(`http://user:pass@${new URL(origin.url).host}/hello`))).toBe('invalid_url');
    expect(await failureReason(http.request('not a url'))).toBe('invalid_url');
  });

  it('classifies addresses: only public unicast passes', () => {
    const verdicts = Object.fromEntries(
      ['8.8.8.8', '2606:4700::1111', '127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.1.2.3', '224.0.0.1', '240.0.0.1', '::1', '::', 'fc00::1', 'fe80::1', '::ffff:10.0.0.1', '::7f00:1', '64:ff9b::a00:1', 'ff02::1'].map((address) => [
        address,
        isPublicAddress(address),
      ]),
    );
    expect(verdicts).toEqual({
      '8.8.8.8': true,
      '2606:4700::1111': true,
      '127.0.0.1': false,
      '10.0.0.1': false,
      '172.16.5.4': false,
      '192.168.0.1': false,
      '169.254.169.254': false,
      '100.64.0.1': false,
      '0.1.2.3': false,
      '224.0.0.1': false,
      '240.0.0.1': false,
      '::1': false,
      '::': false,
      'fc00::1': false,
      'fe80::1': false,
      '::ffff:10.0.0.1': false,
      '::7f00:1': false,
      '64:ff9b::a00:1': false,
      'ff02::1': false,
    });
  });
});

describe('limits', () => {
  it('fails with too_large when the declared content-length is over the limit', async () => {
    expect(await failureReason(client({ allowPrivateNetworks: true, maxBytes: 1024 }).request(`${origin.url}/big-declared`))).toBe('too_large');
  });

  it('fails with too_large when an unannounced body grows over the limit', async () => {
    expect(await failureReason(client({ allowPrivateNetworks: true, maxBytes: 4000 }).request(`${origin.url}/big-chunked`))).toBe('too_large');
  });

  it('accepts a per-request maxBytes', async () => {
    const http = client({ allowPrivateNetworks: true });
    expect(await failureReason(http.request(`${origin.url}/big-declared`, { maxBytes: 100 }))).toBe('too_large');
    expect((await http.request(`${origin.url}/big-declared`)).body.length).toBe(4096);
  });

  it('fails with timeout when the server does not answer in time', async () => {
    expect(await failureReason(client({ allowPrivateNetworks: true, timeoutMs: 150 }).request(`${origin.url}/hang`))).toBe('timeout');
    expect(await failureReason(client({ allowPrivateNetworks: true }).request(`${origin.url}/hang`, { timeoutMs: 150 }))).toBe('timeout');
  });

  it('fails with aborted when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = client({ allowPrivateNetworks: true }).request(`${origin.url}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await failureReason(pending)).toBe('aborted');
  });

  it('does not send anything when the signal is already aborted', async () => {
    const before = origin.requests.length;
    expect(await failureReason(client({ allowPrivateNetworks: true }).request(`${origin.url}/hello`, { signal: AbortSignal.abort() }))).toBe('aborted');
    expect(origin.requests.length).toBe(before);
  });
});
