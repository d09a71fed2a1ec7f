// Where database.url points: the embedded default, sqlite: paths of every spelling, postgres:// URLs.

import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from './open-storage.js';

describe('database.url', () => {
  it('defaults to imagegate.sqlite in the data dir', () => {
    expect(parseDatabaseUrl(undefined, 'data')).toEqual({ backend: 'sqlite', file: join(resolve('data'), 'imagegate.sqlite') });
  });

  it('takes sqlite: paths relative to the working directory or absolute', () => {
    expect(parseDatabaseUrl('sqlite:./db/gate.sqlite', 'data')).toEqual({ backend: 'sqlite', file: resolve('db/gate.sqlite') });
    expect(parseDatabaseUrl('sqlite:/var/lib/gate.sqlite', 'data')).toEqual({ backend: 'sqlite', file: '/var/lib/gate.sqlite' });
    expect(parseDatabaseUrl('sqlite:///var/lib/gate.sqlite', 'data')).toEqual({ backend: 'sqlite', file: '/var/lib/gate.sqlite' });
    expect(() => parseDatabaseUrl('sqlite:', 'data')).toThrow(/expected a file after sqlite:/);
  });

  it('passes postgres:// and postgresql:// URLs through and refuses other schemes', () => {
    expect(parseDatabaseUrl('postgres://u:p@db:5432/gate?schema=tenant_a', 'data')).toEqual({ backend: 'postgres', url: 'postgres://u:p@db:5432/gate?schema=tenant_a' });
    expect(parseDatabaseUrl('postgresql://db/gate', 'data').backend).toBe('postgres');
    expect(() => parseDatabaseUrl('mysql://db/gate', 'data')).toThrow(/expected sqlite:<path> or postgres:/);
  });
});
