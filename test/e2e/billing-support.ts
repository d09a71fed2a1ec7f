// Shared by the billing, admin, rate-limit and usage tests: a gateway with the admin API on, and
// small HTTP helpers that return what a client sees (status, headers, JSON body).

import type { AppConfig } from '../../src/config/schema.js';
import type { GatewayOptions } from '../../src/gateway.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

export const adminToken = 'admin-token-for-tests-0123456789';

export interface Answer {
  status: number;
  headers: Headers;
  // Tests read the fields they assert on; the gateway's JSON is untyped here on purpose.
  body: any;
}

export async function startBillingGateway(overrides: Partial<AppConfig> = {}, options: GatewayOptions & { env?: Record<string, string> } = {}): Promise<TestGateway> {
  return startTestGateway(overrides, { ...options, env: { IMAGEGATE_ADMIN_TOKEN: adminToken, ...options.env } });
}

export async function call(url: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: keep the text for the assertion message.
  }
  return { status: response.status, headers: response.headers, body };
}

export function admin(gateway: TestGateway, method: string, path: string, body?: unknown, token = adminToken): Promise<Answer> {
  return call(`${gateway.url}/admin/v1${path}`, { method, token, body });
}

/** Creates a key through the admin API; answers its id and the secret shown once. */
export async function createKey(gateway: TestGateway, body: Record<string, unknown>): Promise<{ id: string; secret: string; key: any }> {
  const answer = await admin(gateway, 'POST', '/keys', { name: 'test key', ...body });
  if (answer.status !== 201) throw new Error(`creating a key answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, secret: answer.body.secret, key: answer.body };
}

export function generate(gateway: TestGateway, secret: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return call(`${gateway.url}/v1/images/generations`, { token: secret, body: { prompt: 'a lighthouse at dusk', ...body }, headers });
}

/** A cheap request on the offline engine: one dall-e-2 256x256 image = 16 000 credits ($0.016). */
export const cheapImage = { model: 'dall-e-2', size: '256x256', response_format: 'b64_json' } as const;
export const cheapImageCredits = 16_000;
