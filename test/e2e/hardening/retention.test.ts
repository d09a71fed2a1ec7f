// Issue 9, item 28: the request log and the usage arithmetic expire on a configured schedule, as
// stored images do; balances and usage totals are unchanged by it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/core/ports/clock.js';
import type { TestGateway } from '../../../src/testing/gateway-harness.js';
import { admin, cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from '../billing-support.js';

const day = 24 * 60 * 60 * 1000;
const clock = manualClock(Date.UTC(2026, 0, 1));
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startBillingGateway({ retention: { requestLogDays: 7, usageDetailDays: 30 } }, { clock });
});
afterAll(async () => gateway.close());

describe('item 28: retention of the request log and usage detail', () => {
  it('deletes request-log rows after retention.request_log_days and drops usage detail after usage_detail_days, keeping the books', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    await gateway.gateway.taskRuntime.sweep();
    const logs = async () => (await admin(gateway, 'GET', `/logs?key_id=${id}`)).body.data as Array<{ client_ip: string | null }>;
    const usage = async () => (await admin(gateway, 'GET', `/usage?key_id=${id}`)).body.data as Array<{ amount: number; detail: Record<string, unknown> }>;
    for (let tries = 0; (await logs()).length === 0 && tries < 100; tries += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await logs())[0]?.client_ip).toMatch(/127\.0\.0\.1/);
    expect((await usage())[0]?.detail).not.toEqual({ expired: true });

    clock.advance(8 * day);
    const week = await gateway.gateway.taskRuntime.sweep();
    expect(week.requestLog).toBe(1);
    expect(await logs()).toEqual([]);
    expect((await usage())[0]?.detail).not.toEqual({ expired: true });

    clock.advance(23 * day);
    const month = await gateway.gateway.taskRuntime.sweep();
    expect(month.usageDetails).toBe(1);
    const [row] = await usage();
    expect(row).toMatchObject({ amount: cheapImageCredits, detail: { expired: true } });
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000 - cheapImageCredits);
  });
});
