// The two trust policies of outbound traffic, each its own client: operator trust for channel traffic,
// public-only for user URLs unless their own allowlist names the host, and `check` applying the very
// rule `request` applies.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, startFakeServer, type FakeServer } from '../../testing/fakes/shared.js';
import type { ResolvedAddress } from './http-client.js';
import { createOutboundClients, type OutboundClients } from './outbound-policies.js';
import { HttpClientError, type HttpClientErrorReason } from './types.js';

let channelHost: FakeServer;
let operatorHost: FakeServer;
let userHost: FakeServer;
let clients: OutboundClients | undefined;

beforeAll(async () => {
  const ok = (name: string) => startFakeServer((_request, response) => sendJson(response, 200, { server: name }));
  [channelHost, operatorHost, userHost] = await Promise.all([ok('channel'), ok('operator'), ok('user')]);
});
afterEach(async () => {
  await clients?.close();
  clients = undefined;
});
afterAll(async () => {
  await Promise.all([channelHost.close(), operatorHost.close(), userHost.close()]);
});

const fakeDns = async (hostname: string): Promise<readonly ResolvedAddress[]> => {
  const answers: Record<string, ResolvedAddress[]> = {
    'private.example': [{ address: '192.168.1.10', family: 4 }],
    'mixed.example': [{ address: '10.0.0.1', family: 4 }, { address: '93.184.216.34', family: 4 }],
    'public.example': [{ address: '93.184.216.34', family: 4 }],
  };
  const answer = answers[hostname];
  if (answer === undefined) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return answer;
};

function build(allowPrivateNetworks = false): OutboundClients {
  clients = createOutboundClients({
    allowPrivateNetworks,
    channelAllowHosts: [new URL(operatorHost.url).host],
    isChannelHost: (url) => url.host === new URL(channelHost.url).host,
    userUrlAllowHosts: [new URL(userHost.url).host],
    maxBytes: 1024 * 1024,
    resolveHost: fakeDns,
  });
  return clients;
}

async function reason(promise: Promise<unknown>): Promise<HttpClientErrorReason | 'resolved'> {
  return promise.then(
    () => 'resolved' as const,
    (error: unknown) => {
      expect(error).toBeInstanceOf(HttpClientError);
      return (error as HttpClientError).reason;
    },
  );
}

describe('channel traffic and user URLs do not share trust', () => {
  it('channel traffic reaches channel hosts and allow_hosts; user URLs reach neither', async () => {
    const { channelTraffic, userUrls } = build();
    expect((await channelTraffic.request(`${channelHost.url}/x`)).status).toBe(200);
    expect((await channelTraffic.request(`${operatorHost.url}/x`)).status).toBe(200);
    expect(await reason(userUrls.request(`${channelHost.url}/x`))).toBe('blocked_address');
    expect(await reason(userUrls.request(`${operatorHost.url}/x`))).toBe('blocked_address');
    expect(await reason(userUrls.check(`${channelHost.url}/x`))).toBe('blocked_address');
  });

  it('user URLs reach user_url_allow_hosts; channel traffic does not', async () => {
    const { channelTraffic, userUrls } = build();
    expect((await userUrls.request(`${userHost.url}/x`)).status).toBe(200);
    expect((await userUrls.check(`${userHost.url}/x`)).host).toBe(new URL(userHost.url).host);
    expect(await reason(channelTraffic.request(`${userHost.url}/x`))).toBe('blocked_address');
  });

  it('allow_private_networks opens both', async () => {
    const { channelTraffic, userUrls } = build(true);
    expect((await userUrls.request(`${channelHost.url}/x`)).status).toBe(200);
    expect((await channelTraffic.request(`${userHost.url}/x`)).status).toBe(200);
  });
});

describe('check applies the request rule without connecting', () => {
  const cases: Array<[string, HttpClientErrorReason | 'resolved']> = [
    ['http://public.example/hook', 'resolved'],
    ['http://mixed.example/hook', 'resolved'],
    ['http://private.example/hook', 'blocked_address'],
    ['http://nowhere.example/hook', 'invalid_url'],
    ['http://localhost./hook', 'blocked_address'],
    ['http://printer.local/hook', 'blocked_address'],
    ['http://metadata.google.internal/hook', 'blocked_address'],
    ['http://[::127.0.0.1]/hook', 'blocked_address'],
    ['http://[::ffff:10.0.0.1]/hook', 'blocked_address'],
    ['http://0177.0.0.1/hook', 'blocked_address'],
    ['http://evil.com\\@127.0.0.1/hook', 'invalid_url'],
    ['http://public.example/a b', 'invalid_url'],
    ['http://user:pass@public.example/', 'invalid_url'],
    ['ftp://public.example/', 'invalid_url'],
  ];
  for (const [url, expected] of cases) {
    it(`${url} → ${expected}`, async () => {
      const { userUrls } = build();
      expect(await reason(userUrls.check(url))).toBe(expected);
    });
  }
});
