// What the replica tests assert about shared changes, whatever the deployment: a change made through
// one replica's admin API is honoured by the others within a deadline (polled for, never slept on).

import { expect } from 'vitest';
import { adminToken, call, cheapImage } from './billing-support.js';
import type { ChildGateway } from './child-gateway.js';
import { untilHonoured } from './replica-rig.js';

export const admin = (replica: ChildGateway, method: string, path: string, body?: unknown) => call(`${replica.url}/admin/v1${path}`, { method, token: adminToken, body });

/** One cheap offline image (dall-e-2 256×256 on the `drawing` channel). */
export const generate = (replica: ChildGateway, secret: string, extra: Record<string, unknown> = {}) =>
  call(`${replica.url}/v1/images/generations`, { token: secret, body: { prompt: 'a replica lighthouse', ...cheapImage, ...extra } });

export async function createKey(replica: ChildGateway, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const answer = await admin(replica, 'POST', '/keys', { name: 'replica key', ...body });
  if (answer.status !== 201) throw new Error(`creating a key answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, secret: answer.body.secret };
}

/** The config lines of the offline channel the change tests disable. */
export const drawingChannel = ['  - name: drawing', '    provider: offline', '    models: [dall-e-2]'];

/** A key revoked on the first replica stops working on the others within `deadlineMs`. */
export async function revokedKeyIsRefusedEverywhere(replicas: ChildGateway[], deadlineMs: number): Promise<void> {
  const [first, ...others] = replicas as [ChildGateway, ...ChildGateway[]];
  const { id, secret } = await createKey(first, { unlimited: true });
  // Every replica has the key cached as valid.
  for (const replica of others) expect((await call(`${replica.url}/v1/models`, { token: secret })).status).toBe(200);
  expect((await admin(first, 'POST', `/keys/${id}/revoke`)).status).toBe(200);
  const since = Date.now();
  const took = await untilHonoured(others, async (replica) => (await call(`${replica.url}/v1/models`, { token: secret })).status === 401, since, deadlineMs);
  expect(took).toBeLessThan(deadlineMs);
}

/** A channel disabled on the first replica stops serving on the others within `deadlineMs`, and comes back when enabled. */
export async function disabledChannelIsHonouredEverywhere(replicas: ChildGateway[], deadlineMs: number): Promise<void> {
  const [first, ...others] = replicas as [ChildGateway, ...ChildGateway[]];
  const { secret } = await createKey(first, { unlimited: true });
  for (const replica of others) expect((await generate(replica, secret)).status).toBe(200);
  expect((await admin(first, 'POST', '/channels/drawing/disable')).status).toBe(200);
  const since = Date.now();
  const took = await untilHonoured(
    others,
    async (replica) => {
      const answer = await generate(replica, secret);
      return answer.status === 503 && answer.body.error?.message === 'No enabled channel serves dall-e-2.';
    },
    since,
    deadlineMs,
  );
  expect(took).toBeLessThan(deadlineMs);
  expect((await admin(first, 'POST', '/channels/drawing/enable')).status).toBe(200);
  const back = await untilHonoured(others, async (replica) => (await generate(replica, secret)).status === 200, Date.now(), deadlineMs);
  expect(back).toBeLessThan(deadlineMs);
}
