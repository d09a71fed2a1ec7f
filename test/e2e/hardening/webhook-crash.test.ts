// Issue 9, item 2: webhooks across a crash. The documented guarantee is at-least-once with a stable
// `webhook-id` (Standard Webhooks: "webhook-id … should be used as an idempotency key" by receivers):
// a delivery cut by SIGKILL while the receiver holds it is sent again after a restart, under the same
// webhook-id, correctly signed; a delivery recorded as delivered is never sent again.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiKey, kill9, startChild, stop, useDurabilityRig } from '../child-gateway.js';
import { call, queryDatabase, sleep } from '../task-helpers.js';

const rig = useDurabilityRig('imagegate-webhook-crash-');
const secret = `whsec_${Buffer.from('a webhook secret for the crash test').toString('base64')}`;

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Answers this delivery (the first is held until the test decides). */
  respond(status: number): void;
}

/** A receiver that records every delivery and lets the test answer each one; `next(n)` waits for the n-th. */
async function startReceiver() {
  const deliveries: Delivery[] = [];
  const waiters = new Set<{ count: number; resolve: () => void }>();
  const server = createServer((request, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push({ path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), respond: (status) => void response.writeHead(status).end() });
      for (const waiter of [...waiters]) if (deliveries.length >= waiter.count) (waiters.delete(waiter), waiter.resolve());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    next: (count: number) => new Promise<void>((resolve) => (deliveries.length >= count ? resolve() : waiters.add({ count, resolve }))),
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** The Standard Webhooks signature, recomputed from the spec (HMAC-SHA256 of `id.timestamp.body`). */
function signedCorrectly(delivery: Delivery): boolean {
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${String(delivery.headers['webhook-id'])}.${String(delivery.headers['webhook-timestamp'])}.${delivery.body}`)
    .digest();
  const given = Buffer.from(String(delivery.headers['webhook-signature']).replace(/^v1,/, ''), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('a webhook delivery cut by SIGKILL', () => {
  it('is delivered again after the restart with the same webhook-id; once recorded, never again', { timeout: 90_000 }, async () => {
    const receiver = await startReceiver();
    const dataDir = join(rig.folder, 'data');
    const config = join(rig.folder, 'webhooks.yaml');
    // A short attempt limit, so the dead process's claim on the delivery expires within the test.
    await writeFile(config, ['webhooks:', `  secret: ${secret}`, '  timeout_ms: 3000', '  retry_base_ms: 200', ''].join('\n'));
    try {
      let gateway = await startChild(dataDir, config);
      const submit = (prompt: string, path: string) =>
        call(gateway.url, '/v1/images/generations?async=true', { key: apiKey, json: { model: 'dall-e-2', prompt, size: '256x256', callback_url: `${receiver.url}${path}` } });
      const first = await submit('delivered across a crash', '/first');
      expect(first.status).toBe(202);

      // The receiver has the delivery and holds it: the gateway is mid-attempt when it dies.
      await receiver.next(1);
      await kill9(gateway);
      gateway = await startChild(dataDir, config);

      await receiver.next(2);
      const [cut, again] = receiver.deliveries;
      again?.respond(200);
      expect(again?.path).toBe('/first');
      expect(again?.headers['webhook-id']).toBe(cut?.headers['webhook-id']);
      expect(String(again?.headers['webhook-id'])).toMatch(/^msg_[0-9a-f]{32}$/);
      expect(JSON.parse(again?.body ?? '{}')).toMatchObject({ id: first.body.id, status: 'succeeded' });
      expect([cut, again].every((delivery) => delivery !== undefined && signedCorrectly(delivery))).toBe(true);

      // Recorded as delivered, on the task the client polls.
      for (;;) {
        const task = await call(gateway.url, `/v1/images/tasks/${first.body.id as string}`, { key: apiKey });
        if (task.body.webhook?.status === 'delivered') break;
        await sleep(50);
      }

      // A crash after the record: the restarted gateway delivers a second task's webhook (proof its
      // delivery loop has run) and never the first one again.
      await kill9(gateway);
      gateway = await startChild(dataDir, config);
      expect((await submit('after the record', '/second')).status).toBe(202);
      await receiver.next(3);
      receiver.deliveries[2]?.respond(200);
      expect(receiver.deliveries.map((delivery) => delivery.path)).toEqual(['/first', '/first', '/second']);
      const rows = queryDatabase<{ task_id: string; state: string }>(dataDir, 'SELECT task_id, state FROM webhook_deliveries ORDER BY created_at');
      expect(rows[0]).toEqual({ task_id: first.body.id, state: 'delivered' });
      await stop(gateway);
    } finally {
      await receiver.close();
    }
  });
});
