// API keys over real HTTP: both Authorization forms, 401s in OpenAI's shape that never echo the key,
// keys seeded from IMAGEGATE_API_KEYS, stored only as sha256 hashes, and disabled or expired keys refused.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/ports/clock.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

const firstKey = 'sk-first-env-key-5f1c9e27a4b0';
const secondKey = 'sk-second-env-key-83d2e6b71c44';
const clock = manualClock();
let gateway: TestGateway;

beforeAll(async () => {
  // Seeded through loadConfig, as an operator would: comma-separated, with stray spaces.
  gateway = await startTestGateway({}, { clock, env: { IMAGEGATE_API_KEYS: ` ${firstKey} , ${secondKey}` } });
});
afterAll(async () => gateway.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function database(): Database.Database {
  return new Database(join(gateway.dataDir, 'imagegate.sqlite'), { fileMustExist: true });
}

async function listModels(headers: Record<string, string>): Promise<Response> {
  return fetch(`${gateway.url}/v1/models`, { headers });
}

async function expectInvalidApiKey(response: Response): Promise<{ message: string; text: string }> {
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  const text = await response.text();
  const body = JSON.parse(text) as { error: { message: string; type: string; param: unknown; code: string } };
  expect(body.error).toEqual({ message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
  return { message: body.error.message, text };
}

describe('presenting a key', () => {
  it('accepts Authorization: Bearer <key>', async () => {
    const response = await listModels({ authorization: `Bearer ${firstKey}` });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { object: string }).object).toBe('list');
  });

  it('accepts the bare Authorization: <key> relay clients send', async () => {
    expect((await listModels({ authorization: secondKey })).status).toBe(200);
  });

  it('accepts the scheme in any case and surrounding spaces', async () => {
    expect((await listModels({ authorization: `  bearer   ${firstKey}  ` })).status).toBe(200);
  });

  it('serves an image generation to a bare key', async () => {
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: firstKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a key', size: '1024x1024' }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ b64_json: string }> };
    expect(Buffer.from(body.data[0]?.b64_json ?? '', 'base64').subarray(1, 4).toString()).toBe('PNG');
  });
});

describe('refusing a key', () => {
  it('answers 401 invalid_api_key when no key is sent', async () => {
    const { message } = await expectInvalidApiKey(await listModels({}));
    expect(message).toContain("You didn't provide an API key");
  });

  it('answers 401 for an empty Authorization header and for a bare "Bearer"', async () => {
    await expectInvalidApiKey(await listModels({ authorization: '' }));
    await expectInvalidApiKey(await listModels({ authorization: 'Bearer' }));
  });

  it('answers 401 for a wrong key and never sends the key back', async () => {
    const wrongKey = 'sk-wrong-key-that-is-long-7d3a91c0e5';
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${wrongKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-3', prompt: 'x' }),
    });
    const headers = JSON.stringify([...response.headers]);
    const { message, text } = await expectInvalidApiKey(response);
    expect(message).toMatch(/^Incorrect API key provided: sk-\*\*\*e5\.$/);
    expect(text).not.toContain(wrongKey);
    expect(text).not.toContain('7d3a91c0');
    expect(headers).not.toContain(wrongKey);
  });

  it('answers 401 before validating the body, so an unauthenticated caller learns nothing about it', async () => {
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', prompt: 'x' }),
    });
    await expectInvalidApiKey(response);
  });
});

describe('key storage', () => {
  it('stores every seeded key only as its sha256 hash', async () => {
    const db = database();
    try {
      const rows = db.prepare('SELECT * FROM api_keys ORDER BY name').all() as Array<Record<string, unknown>>;
      expect(rows.map((row) => [row.name, row.hash, row.source, row.enabled])).toEqual([
        ['env-1', sha256(firstKey), 'env', 1],
        ['env-2', sha256(secondKey), 'env', 1],
      ]);
      for (const row of rows) {
        for (const value of Object.values(row)) {
          expect(String(value)).not.toContain(firstKey);
          expect(String(value)).not.toContain(secondKey);
        }
      }
    } finally {
      db.close();
    }
    // Nor anywhere else in the file or its write-ahead log.
    for (const file of ['imagegate.sqlite', 'imagegate.sqlite-wal']) {
      const bytes = await readFile(join(gateway.dataDir, file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(firstKey)).toBe(false);
      expect(bytes.includes(secondKey)).toBe(false);
    }
  });

  it('seeds the same keys again on a restart without duplicating them', async () => {
    const again = await startTestGateway({ dataDir: gateway.dataDir }, { env: { IMAGEGATE_API_KEYS: `${firstKey},${secondKey}` } });
    try {
      const db = database();
      try {
        expect((db.prepare('SELECT COUNT(*) AS count FROM api_keys').get() as { count: number }).count).toBe(2);
      } finally {
        db.close();
      }
      expect(again.gateway.bootstrapKey).toBeUndefined();
    } finally {
      await again.close();
    }
  });
});

describe('disabled and expired keys', () => {
  it('refuses a disabled key', async () => {
    const db = database();
    db.prepare('UPDATE api_keys SET enabled = 0 WHERE hash = ?').run(sha256(secondKey));
    db.close();
    // Recognised keys are cached briefly; move past that window rather than sleeping.
    clock.advance(60_000);
    const { message } = await expectInvalidApiKey(await listModels({ authorization: `Bearer ${secondKey}` }));
    expect(message).not.toContain(secondKey);
    expect((await listModels({ authorization: `Bearer ${firstKey}` })).status).toBe(200);
  });

  it('refuses a key past its expiry', async () => {
    const db = database();
    db.prepare('UPDATE api_keys SET expires_at = ? WHERE hash = ?').run(clock.now() + 1_000, sha256(firstKey));
    db.close();
    clock.advance(60_000);
    await expectInvalidApiKey(await listModels({ authorization: `Bearer ${firstKey}` }));
  });
});
