// The behaviour every BillingStore (SQLite, Postgres …) must show: reserve / settle / release,
// idempotency, ids scoped to their key, quota refusal under concurrency, usage rows, price snapshots,
// books that balance (granted = balance + charged + held), and the sweep of reservations whose
// process died. Each implementation's test file runs it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BillingStore } from '../../core/ports/billing-store.js';
import type { PriceSpec } from '../../billing/price-book.js';
import { newKeyRecord } from '../../core/api-keys.js';
import { GatewayError } from '../../core/errors.js';
import type { ReservationRequest } from '../../core/ports/billing.js';
import { manualClock, type Clock } from '../../core/ports/clock.js';
import type { KeyStore } from '../../core/ports/key-store.js';
import type { TaskRecord, TaskStore } from '../../core/ports/task-store.js';
import type { TaskEventStore } from '../../core/ports/task-events.js';

export interface BillingUnderTest {
  billing: BillingStore;
  /** Another process's billing store on the same database (its own process id and lease). */
  otherProcess(): Promise<BillingStore>;
  /** The key store the billing store shares its keys (and balances) with. */
  keys: KeyStore;
  /** Changes a model's price the way the admin API does. */
  setPrice(model: string, spec: PriceSpec): Promise<void>;
  /** The task store on the same database, whose rows the billing store's task ledger writes. */
  tasks: TaskStore;
  /** The task timeline on the same database, where the ledger writes a moment's events. */
  taskEvents: TaskEventStore;
  cleanup(): Promise<void>;
}

export function describeBillingConformance(name: string, create: (clock: Clock) => Promise<BillingUnderTest>): void {
  const clock = manualClock(1_800_000_000_000);
  let subject: BillingUnderTest;
  let billing: BillingStore;
  let sequence = 0;

  async function makeKey(balance: number | null, keyName = 'metered'): Promise<string> {
    const record = { ...newKeyRecord(`sk-${keyName}-${Math.random()}`, { name: keyName, source: 'admin', now: clock.now() }), balance: balance === null ? null : 0 };
    await subject.keys.insert(record);
    if (balance !== null && balance > 0) await billing.topUp(record.id, balance, 'test grant', 'initial');
    return record.id;
  }

  function dalle2(keyId: string, images = 1, overrides: Partial<ReservationRequest> = {}): ReservationRequest {
    sequence += 1;
    return {
      reservationId: `req_${sequence}`,
      keyId,
      model: 'dall-e-2',
      operation: 'generate',
      imagesRequested: images,
      size: '256x256',
      quality: 'standard',
      promptCharacters: 20,
      inputImages: 0,
      ...overrides,
    };
  }

  async function expectBooksBalance(keyId: string): Promise<void> {
    const account = await billing.account(keyId);
    expect(account.granted).toBe((account.balance ?? 0) + account.charged + account.held);
  }

  describe(`BillingStore conformance: ${name}`, () => {
    beforeEach(async () => {
      subject = await create(clock);
      billing = subject.billing;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('debits the estimate at reserve and charges what was delivered at settle', async () => {
      const keyId = await makeKey(100_000);
      const request = dalle2(keyId, 4);
      await billing.reserve(request);
      expect(await billing.balance(keyId)).toBe(100_000 - 64_000);
      await billing.settle(request, { imagesDelivered: 2, channel: 'openai-main', provider: 'openai' });
      expect(await billing.balance(keyId)).toBe(100_000 - 32_000);
      const [usage] = await billing.listUsage({ keyId });
      expect(usage).toMatchObject({
        reservationId: request.reservationId,
        keyId,
        model: 'dall-e-2',
        channel: 'openai-main',
        provider: 'openai',
        imagesRequested: 4,
        imagesDelivered: 2,
        size: '256x256',
        quality: 'standard',
        unit: 'image',
        unitPrice: 16_000,
        amount: 32_000,
        metered: true,
      });
      expect(usage?.detail).toMatchObject({ estimated: 64_000, unit_price_usd: '0.016' });
      await expectBooksBalance(keyId);
    });

    it('releases in full, and a repeated settle or release changes nothing', async () => {
      const keyId = await makeKey(50_000);
      const request = dalle2(keyId, 2);
      await billing.reserve(request);
      await billing.release(request);
      await billing.release(request);
      await billing.settle(request, { imagesDelivered: 2 });
      expect(await billing.balance(keyId)).toBe(50_000);
      expect(await billing.listUsage({ keyId })).toHaveLength(0);

      const settled = dalle2(keyId, 1);
      await billing.reserve(settled);
      await billing.settle(settled, { imagesDelivered: 1 });
      await billing.settle(settled, { imagesDelivered: 1 });
      await billing.release(settled);
      expect(await billing.balance(keyId)).toBe(34_000);
      expect(await billing.listUsage({ keyId })).toHaveLength(1);
      await expectBooksBalance(keyId);
    });

    it('refuses with 429 insufficient_quota when the balance cannot cover the estimate, and holds nothing', async () => {
      const keyId = await makeKey(31_999);
      const error = await billing.reserve(dalle2(keyId, 2)).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(GatewayError);
      expect([(error as GatewayError).status, (error as GatewayError).code]).toEqual([429, 'insufficient_quota']);
      expect((error as GatewayError).message).toMatch(/\$0\.032 \(32000 credits\).*\$0\.031999 \(31999 credits\)/);
      expect(await billing.balance(keyId)).toBe(31_999);
      expect((await billing.account(keyId)).held).toBe(0);
    });

    it('refuses a reservation id seen before (a reused X-Request-Id must not ride on the first request)', async () => {
      const keyId = await makeKey(100_000);
      const request = dalle2(keyId);
      await billing.reserve(request);
      await billing.settle(request, { imagesDelivered: 1 });
      const error = (await billing.reserve(request).catch((caught: unknown) => caught)) as GatewayError;
      expect([error.status, error.code]).toEqual([409, 'conflict']);
      expect(await billing.balance(keyId)).toBe(84_000);
    });

    it('never overdraws under concurrent reservations: exactly as many succeed as the balance covers', async () => {
      const keyId = await makeKey(16_000 * 37);
      const requests = Array.from({ length: 120 }, () => dalle2(keyId));
      const outcomes = await Promise.allSettled(requests.map((request) => billing.reserve(request)));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(37);
      expect(outcomes.filter((outcome) => outcome.status === 'rejected').every((outcome) => (outcome as PromiseRejectedResult).reason.code === 'insufficient_quota')).toBe(true);
      expect(await billing.balance(keyId)).toBe(0);
      await expectBooksBalance(keyId);
    });

    it('records usage for unlimited keys without touching a balance', async () => {
      const keyId = await makeKey(null, 'dev');
      const request = dalle2(keyId, 3);
      await billing.reserve(request);
      await billing.settle(request, { imagesDelivered: 3 });
      expect(await billing.balance(keyId)).toBeNull();
      const [usage] = await billing.listUsage({ keyId });
      expect([usage?.amount, usage?.metered]).toEqual([48_000, false]);
    });

    it('refuses an unpriced model for a metered key, and lets an unlimited key use it for free', async () => {
      const metered = await makeKey(1_000_000);
      const error = (await billing.reserve(dalle2(metered, 1, { model: 'no-such-price' })).catch((caught: unknown) => caught)) as GatewayError;
      expect([error.status, error.code]).toEqual([403, 'permission_denied']);
      const unlimited = await makeKey(null, 'dev');
      const request = dalle2(unlimited, 1, { model: 'no-such-price' });
      await billing.reserve(request);
      await billing.settle(request, { imagesDelivered: 1 });
      expect((await billing.listUsage({ keyId: unlimited }))[0]?.amount).toBe(0);
    });

    it('charges reported token usage above the estimate only as far as the balance goes', async () => {
      const estimate = 10 * 5 + 272 * 40; // 40 prompt characters ≈ 10 tokens, gpt-image-1 low 1024x1024.
      const keyId = await makeKey(estimate + 1000);
      const request = dalle2(keyId, 1, { model: 'gpt-image-1', size: '1024x1024', quality: 'low', promptCharacters: 40 });
      await billing.reserve(request);
      expect(await billing.balance(keyId)).toBe(1000);
      await billing.settle(request, { imagesDelivered: 1, usage: { inputTokens: 1000, outputTokens: 272, inputTextTokens: 1000, inputImageTokens: 0 } });
      expect(await billing.balance(keyId)).toBe(0);
      const [usage] = await billing.listUsage({ keyId });
      const wanted = 1000 * 5 + 272 * 40;
      expect([usage?.amount, usage?.detail.uncollected, usage?.inputTextTokens, usage?.outputTokens]).toEqual([estimate + 1000, wanted - estimate - 1000, 1000, 272]);
      await expectBooksBalance(keyId);
    });

    it('settles at the price quoted at reserve time, and the next request pays a new price', async () => {
      const keyId = await makeKey(1_000_000);
      const first = dalle2(keyId);
      await billing.reserve(first);
      await subject.setPrice('dall-e-2', { per_image: '0.1' });
      await billing.settle(first, { imagesDelivered: 1 });
      expect(await billing.balance(keyId)).toBe(1_000_000 - 16_000);
      const second = dalle2(keyId);
      await billing.reserve(second);
      await billing.settle(second, { imagesDelivered: 1 });
      expect(await billing.balance(keyId)).toBe(1_000_000 - 16_000 - 100_000);
    });

    it('keeps the books through top-ups, unlimited switches and refunds to a key made unlimited', async () => {
      const keyId = await makeKey(40_000);
      const held = dalle2(keyId, 2);
      await billing.reserve(held);
      expect(await billing.topUp(keyId, 5_000, 'more')).toBe(13_000);
      expect(await billing.setMetered(keyId, false)).toBeNull();
      await billing.release(held);
      expect(await billing.balance(keyId)).toBeNull();
      await expectBooksBalance(keyId);
      expect(await billing.setMetered(keyId, true, 7_000)).toBe(7_000);
      await expectBooksBalance(keyId);
      const error = (await billing.topUp(await makeKey(null, 'dev'), 1, null).catch((caught: unknown) => caught)) as GatewayError;
      expect(error.code).toBe('conflict');
    });

    it('scopes reservation ids to the key: another tenant may use the same request id', async () => {
      const tenantA = await makeKey(100_000, 'tenant-a');
      const tenantB = await makeKey(100_000, 'tenant-b');
      const shared = 'client-chosen-id';
      await billing.reserve(dalle2(tenantA, 1, { reservationId: shared }));
      await billing.reserve(dalle2(tenantB, 2, { reservationId: shared }));
      await billing.settle({ keyId: tenantB, reservationId: shared }, { imagesDelivered: 2 });
      // B's settle touched only B's reservation: A's is still held, and A releases it in full.
      expect((await billing.account(tenantA)).held).toBe(16_000);
      await billing.release({ keyId: tenantA, reservationId: shared });
      expect(await billing.balance(tenantA)).toBe(100_000);
      expect(await billing.balance(tenantB)).toBe(100_000 - 32_000);
      expect((await billing.listUsage({ keyId: tenantB })).map((row) => row.reservationId)).toEqual([shared]);
      expect(await billing.listUsage({ keyId: tenantA })).toHaveLength(0);
      await expectBooksBalance(tenantA);
      await expectBooksBalance(tenantB);
    });

    it("sweeps a dead process's held reservations, once, and leaves live processes' and tasks' alone", async () => {
      const keyId = await makeKey(1_000_000);
      const dead = await subject.otherProcess();
      const alive = await subject.otherProcess();
      await dead.renewProcessLease(1_000);
      await alive.renewProcessLease(60_000);
      await billing.renewProcessLease(60_000);
      const crashed = [dalle2(keyId), dalle2(keyId, 2)];
      for (const request of crashed) await dead.reserve(request);
      const becameTask = dalle2(keyId);
      await dead.reserve(becameTask);
      await dead.handOver(becameTask);
      const inFlight = dalle2(keyId);
      await alive.reserve(inFlight);
      expect((await billing.account(keyId)).held).toBe(5 * 16_000);

      // The dead process's lease runs out, but its reservations are younger than a request can live.
      clock.advance(2_000);
      expect(await billing.sweepAbandoned({ heldLongerThanMs: 10_000 })).toBe(0);
      clock.advance(10_000);
      // Two processes sweeping at once return each reservation once.
      const swept = await Promise.all([billing.sweepAbandoned({ heldLongerThanMs: 10_000 }), alive.sweepAbandoned({ heldLongerThanMs: 10_000 })]);
      expect(swept[0] + swept[1]).toBe(2);
      expect(await billing.sweepAbandoned({ heldLongerThanMs: 10_000 })).toBe(0);
      expect(await billing.balance(keyId)).toBe(1_000_000 - 2 * 16_000);
      expect((await billing.account(keyId)).held).toBe(2 * 16_000);
      await expectBooksBalance(keyId);

      // A swept reservation is not charged by a late release; the task's and the live request's settle normally.
      await dead.release(crashed[0]!);
      await alive.settle(inFlight, { imagesDelivered: 1 });
      await billing.settle(becameTask, { imagesDelivered: 1 });
      const account = await billing.account(keyId);
      expect([account.held, account.charged, account.balance]).toEqual([0, 2 * 16_000, 1_000_000 - 2 * 16_000]);
      await expectBooksBalance(keyId);
    });

    it('a process that ended its lease cleanly has its leftovers swept; a settle after the sweep charges once', async () => {
      const keyId = await makeKey(100_000);
      const other = await subject.otherProcess();
      await other.renewProcessLease(60_000);
      const request = dalle2(keyId);
      await other.reserve(request);
      await other.endProcessLease();
      clock.advance(1_000);
      expect(await billing.sweepAbandoned({ heldLongerThanMs: 500 })).toBe(1);
      expect(await billing.balance(keyId)).toBe(100_000);
      // A task made just before its process died settles the swept reservation: charged afresh, once.
      await billing.settle(request, { imagesDelivered: 1 });
      await billing.settle(request, { imagesDelivered: 1 });
      expect(await billing.balance(keyId)).toBe(100_000 - 16_000);
      expect(await billing.listUsage({ keyId })).toHaveLength(1);
      await expectBooksBalance(keyId);
    });

    it('totals usage per model and per UTC day', async () => {
      const keyId = await makeKey(10_000_000);
      const run = async (overrides: Partial<ReservationRequest>, delivered: number) => {
        const request = dalle2(keyId, delivered, overrides);
        await billing.reserve(request);
        await billing.settle(request, { imagesDelivered: delivered });
      };
      clock.set(Date.UTC(2027, 0, 1, 23, 0));
      await run({}, 2);
      await run({ model: 'dall-e-3', size: '1024x1024' }, 1);
      clock.set(Date.UTC(2027, 0, 2, 1, 0));
      await run({}, 1);
      const byModel = await billing.summarizeUsage({ keyId }, 'model');
      expect(byModel).toEqual([
        { group: 'dall-e-2', requests: 2, imagesRequested: 3, imagesDelivered: 3, amount: 48_000 },
        { group: 'dall-e-3', requests: 1, imagesRequested: 1, imagesDelivered: 1, amount: 40_000 },
      ]);
      const byDay = await billing.summarizeUsage({ keyId }, 'day');
      expect(byDay.map((row) => [row.group, row.amount])).toEqual([
        ['2027-01-01', 72_000],
        ['2027-01-02', 16_000],
      ]);
      expect(await billing.summarizeUsage({ keyId, from: Date.UTC(2027, 0, 2) }, undefined)).toEqual([
        { group: null, requests: 1, imagesRequested: 1, imagesDelivered: 1, amount: 16_000 },
      ]);
    });
  });

  /** A queued task named after its reservation, as the task service submits one. */
  function queuedTask(request: ReservationRequest): TaskRecord {
    return {
      id: request.reservationId,
      keyId: request.keyId,
      operation: 'generate',
      model: request.model,
      status: 'queued',
      progress: 0,
      request: { prompt: 'a lighthouse' },
      result: null,
      error: null,
      upstreamJob: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      attempts: 0,
      createdAt: clock.now(),
      startedAt: null,
      completedAt: null,
    };
  }

  describe(`BillingStore conformance: ${name}, the task ledger`, () => {
    beforeEach(async () => {
      subject = await create(clock);
      billing = subject.billing;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    const ledgerOf = () => {
      const ledger = billing.taskLedger;
      if (ledger === undefined) throw new Error(`${name} has no task ledger`);
      return ledger;
    };

    it('creates a task with its reservation, held by the task: a sweep after its process died leaves it', async () => {
      const keyId = await makeKey(1_000_000);
      const request = dalle2(keyId);
      await ledgerOf().createReserved(queuedTask(request), request, [{ taskId: request.reservationId, at: clock.now(), kind: 'queued', detail: { model: 'dall-e-2' } }]);
      expect(await subject.tasks.get(request.reservationId)).toMatchObject({ status: 'queued', keyId });
      expect(await subject.taskEvents.list(request.reservationId)).toEqual([{ taskId: request.reservationId, at: clock.now(), kind: 'queued', detail: { model: 'dall-e-2' } }]);
      expect(await billing.balance(keyId)).toBe(1_000_000 - 16_000);
      // This process never took a lease: anything it held itself would be swept now.
      clock.advance(60_000);
      expect(await billing.sweepAbandoned({ heldLongerThanMs: 10_000 })).toBe(0);
      expect((await billing.account(keyId)).held).toBe(16_000);
      await expectBooksBalance(keyId);
    });

    it('refuses a task the balance cannot cover: no task, no reservation, the balance untouched', async () => {
      const keyId = await makeKey(10_000);
      const request = dalle2(keyId);
      const refused = await ledgerOf()
        .createReserved(queuedTask(request), request, [{ taskId: request.reservationId, at: clock.now(), kind: 'queued', detail: {} }])
        .then(() => undefined, (error: unknown) => error);
      expect(refused).toBeInstanceOf(GatewayError);
      expect((refused as GatewayError).code).toBe('insufficient_quota');
      expect(await subject.tasks.get(request.reservationId)).toBeUndefined();
      expect(await subject.taskEvents.list(request.reservationId)).toEqual([]);
      expect(await billing.balance(keyId)).toBe(10_000);
      expect((await billing.account(keyId)).held).toBe(0);
    });

    it('refuses a task whose id the key already used: the first task and its money stay as they were', async () => {
      const keyId = await makeKey(1_000_000);
      const request = dalle2(keyId);
      await ledgerOf().createReserved(queuedTask(request), request);
      const again = await ledgerOf()
        .createReserved({ ...queuedTask(request), request: { prompt: 'another' } }, request)
        .then(() => undefined, (error: unknown) => error);
      expect((again as GatewayError).code).toBe('conflict');
      expect((await subject.tasks.get(request.reservationId))?.request).toEqual({ prompt: 'a lighthouse' });
      expect(await billing.balance(keyId)).toBe(1_000_000 - 16_000);
    });

    it("holds a key to its queue limit in the same write: the task over it leaves nothing, other keys' and started tasks do not count", async () => {
      const keyId = await makeKey(1_000_000);
      const otherKeyId = await makeKey(1_000_000);
      const submit = (request: ReservationRequest) =>
        ledgerOf()
          .createReserved(queuedTask(request), request, [{ taskId: request.reservationId, at: clock.now(), kind: 'queued', detail: {} }], 3)
          .then(() => 'created', (error: unknown) => error);
      // Submitted together, as a busy key's are: one batch of the group commit decides them one by one.
      const first = [dalle2(keyId), dalle2(keyId), dalle2(keyId), dalle2(keyId)];
      const outcomes = await Promise.all(first.map(submit));
      expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(3);
      const refused = outcomes.find((outcome) => outcome !== 'created');
      expect(refused).toBeInstanceOf(GatewayError);
      expect(refused).toMatchObject({ code: 'rate_limit_exceeded', retryAfterSeconds: 5 });
      const refusedRequest = first[outcomes.indexOf(refused)] as ReservationRequest;
      expect(await subject.tasks.get(refusedRequest.reservationId)).toBeUndefined();
      expect(await subject.taskEvents.list(refusedRequest.reservationId)).toEqual([]);
      expect(await billing.account(keyId)).toMatchObject({ balance: 1_000_000 - 3 * 16_000, held: 3 * 16_000 });

      // A task that started is no longer waiting: its place in the queue is free again.
      expect(await subject.tasks.claim('worker-a', clock.now(), clock.now() + 60_000)).toMatchObject({ keyId });
      expect(await submit(dalle2(keyId))).toBe('created');
      expect(await submit(dalle2(keyId))).toMatchObject({ code: 'rate_limit_exceeded' });
      // Another key's queue is its own.
      expect(await submit(dalle2(otherKeyId))).toBe('created');
      // Without a limit (a task not queued by a client's submission) nothing is counted.
      const unbounded = dalle2(keyId);
      await ledgerOf().createReserved(queuedTask(unbounded), unbounded);
      expect(await billing.account(keyId)).toMatchObject({ balance: 1_000_000 - 5 * 16_000, held: 5 * 16_000 });
      await expectBooksBalance(keyId);
    });

    it('finishes and settles together while the lease is held; a worker that lost it neither writes nor charges', async () => {
      const keyId = await makeKey(1_000_000);
      const request = dalle2(keyId, 2);
      await ledgerOf().createReserved(queuedTask(request), request);
      expect(await subject.tasks.claim('worker-a', clock.now(), clock.now() + 1_000)).toMatchObject({ id: request.reservationId });
      // The lease runs out and another worker takes the task over.
      clock.advance(2_000);
      expect(await subject.tasks.claim('worker-b', clock.now(), clock.now() + 60_000)).toMatchObject({ id: request.reservationId, attempts: 2 });

      const succeeded = [{ taskId: request.reservationId, at: clock.now(), kind: 'succeeded' as const, detail: {} }];
      const late = await ledgerOf().finishSettled(request.reservationId, 'worker-a', { status: 'succeeded', progress: 100, result: { data: [] }, completedAt: clock.now() }, request, { imagesDelivered: 2 }, succeeded);
      expect(late).toBe(false);
      expect(await subject.tasks.get(request.reservationId)).toMatchObject({ status: 'in_progress', leaseOwner: 'worker-b', result: null });
      expect((await billing.account(keyId)).held).toBe(32_000);
      expect(await subject.taskEvents.list(request.reservationId)).toEqual([]);

      const done = await ledgerOf().finishSettled(request.reservationId, 'worker-b', { status: 'succeeded', progress: 100, result: { data: [{ blob_key: 'k' }] }, completedAt: clock.now() }, request, {
        imagesDelivered: 1,
      }, succeeded);
      expect(done).toBe(true);
      expect(await subject.taskEvents.list(request.reservationId)).toEqual(succeeded);
      expect(await subject.tasks.get(request.reservationId)).toMatchObject({ status: 'succeeded', progress: 100, result: { data: [{ blob_key: 'k' }] } });
      expect(await billing.account(keyId)).toMatchObject({ balance: 1_000_000 - 16_000, charged: 16_000, held: 0 });
      // Written again (a retry after an ambiguous failure): the charge stays one.
      await ledgerOf().finishSettled(request.reservationId, 'worker-b', { status: 'succeeded', completedAt: clock.now() }, request, { imagesDelivered: 1 });
      expect(await billing.account(keyId)).toMatchObject({ charged: 16_000, held: 0 });
      expect(await billing.listUsage({ keyId })).toHaveLength(1);
      await expectBooksBalance(keyId);
    });

    it('takes concurrent submissions of one key exactly (as many as the balance covers, the rest leave nothing) and charges their concurrent successes once each', async () => {
      const keyId = await makeKey(5 * 16_000);
      const requests = Array.from({ length: 8 }, () => dalle2(keyId));
      const outcomes = await Promise.all(
        requests.map((request) =>
          ledgerOf()
            .createReserved(queuedTask(request), request, [{ taskId: request.reservationId, at: clock.now(), kind: 'queued', detail: {} }])
            .then(() => 'created', (error: unknown) => (error as GatewayError).code),
        ),
      );
      expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(5);
      expect(outcomes.filter((outcome) => outcome === 'insufficient_quota')).toHaveLength(3);
      for (const [index, request] of requests.entries()) {
        const created = outcomes[index] === 'created';
        expect((await subject.tasks.get(request.reservationId)) !== undefined).toBe(created);
        expect(await subject.taskEvents.list(request.reservationId)).toHaveLength(created ? 1 : 0);
      }
      expect(await billing.account(keyId)).toMatchObject({ balance: 0, held: 80_000 });

      const claimed = await subject.tasks.claimBatch('worker-a', clock.now(), clock.now() + 60_000, 8);
      expect(claimed).toHaveLength(5);
      const finished = await Promise.all(
        claimed.map((task) =>
          ledgerOf().finishSettled(task.id, 'worker-a', { status: 'succeeded', progress: 100, result: { data: [] }, completedAt: clock.now() }, { keyId, reservationId: task.id }, { imagesDelivered: 1 }),
        ),
      );
      expect(finished).toEqual([true, true, true, true, true]);
      expect(await billing.account(keyId)).toMatchObject({ balance: 0, charged: 80_000, held: 0 });
      expect(await billing.listUsage({ keyId })).toHaveLength(5);
      await expectBooksBalance(keyId);
    });

    it("reserves on the key's terms of the moment after they change, and writes off a refund to a key made unlimited meanwhile", async () => {
      const keyId = await makeKey(1_000_000);
      const first = dalle2(keyId, 2);
      await ledgerOf().createReserved(queuedTask(first), first);
      expect(await subject.tasks.claim('worker-a', clock.now(), clock.now() + 60_000)).toMatchObject({ id: first.reservationId });
      expect(await billing.setMetered(keyId, false)).toBeNull();
      const unlimited = dalle2(keyId);
      await ledgerOf().createReserved(queuedTask(unlimited), unlimited);
      expect(await subject.tasks.get(unlimited.reservationId)).toMatchObject({ status: 'queued' });
      // One of two images delivered: the other's 16,000 would go back to a balance the key no longer has.
      const done = await ledgerOf().finishSettled(first.reservationId, 'worker-a', { status: 'succeeded', progress: 100, result: { data: [] }, completedAt: clock.now() }, first, { imagesDelivered: 1 });
      expect(done).toBe(true);
      expect(await billing.account(keyId)).toMatchObject({ balance: null, charged: 16_000, held: 0 });
      await expectBooksBalance(keyId);
      expect(await billing.setMetered(keyId, true, 50_000)).toBe(50_000);
      const metered = dalle2(keyId);
      await ledgerOf().createReserved(queuedTask(metered), metered);
      expect(await billing.account(keyId)).toMatchObject({ balance: 34_000, held: 16_000 });
      await expectBooksBalance(keyId);
    });
  });
}
