// Operators' price changes shared between processes: two PriceOverrides on one PostgreSQL schema
// (as two replicas would hold), a change through one reaching the other's price book on refresh.

import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/ports/clock.js';
import { openPostgresStorage } from '../storage/postgres/postgres-storage.js';
import type { DatabaseStores } from '../storage/storage.js';
import { createTestSchema, type TestSchema } from '../testing/postgres.js';
import { readPriceFile } from './price-file.js';
import { PriceOverrides } from './price-overrides.js';

let schema: TestSchema;
let first: DatabaseStores;
let second: DatabaseStores;

beforeEach(async () => {
  schema = createTestSchema('prices');
  first = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 2 });
  second = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 2 });
});

afterEach(async () => {
  await first.close();
  await second.close();
  await schema.drop();
});

describe('price overrides across processes', () => {
  it('a price set, changed and reset through one process reaches the other on refresh', async () => {
    const here = await PriceOverrides.open(first.prices, readPriceFile(), systemClock);
    const there = await PriceOverrides.open(second.prices, readPriceFile(), systemClock);
    const fileSpec = there.book.modelPrice('dall-e-2');

    await here.setModelPrice('dall-e-2', { per_image: { '*': { '*': '0.5' } } });
    await here.setGroup('resellers', { multiplier: '0.8' });
    expect(there.book.modelPrice('dall-e-2')).toEqual(fileSpec);
    await there.refresh();
    expect(there.book.modelPrice('dall-e-2')).toEqual({ per_image: { '*': { '*': '0.5' } } });
    expect(there.book.quote('dall-e-2', 'resellers')).toMatchObject({ multiplier: '0.8' });

    await here.setModelPrice('dall-e-2', { per_image: { '*': { '*': '0.25' } } });
    await there.refresh();
    expect(there.book.modelPrice('dall-e-2')).toEqual({ per_image: { '*': { '*': '0.25' } } });

    await here.resetModelPrice('dall-e-2');
    await here.resetGroup('resellers');
    await there.refresh();
    expect(there.book.modelPrice('dall-e-2')).toEqual(fileSpec);
    expect(there.book.hasGroup('resellers')).toBe(false);
  });
});
