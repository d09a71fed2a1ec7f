// Admin API for API keys: create (the secret is shown once), list, get, update, revoke, top up.
// Every change drops the authentication cache, so it applies to the very next request.

import type { FastifyInstance } from 'fastify';
import { generateApiKey, newKeyRecord } from '../core/api-keys.js';
import { GatewayError } from '../core/errors.js';
import { creditsToUsd, usdToCredits } from '../core/money.js';
import type { ApiKeyPatch, ApiKeyRecord, KeyRateLimits } from '../core/ports/key-store.js';
import { parseAllowlistEntry } from '../http/ip-allowlist.js';
import type { AdminDeps } from './deps.js';
import { assertVisible } from './principal.js';
import {
  objectBody,
  optionalBoolean,
  optionalCredits,
  optionalNullableCount,
  optionalNullableStringList,
  optionalNullableTime,
  optionalObject,
  optionalString,
  queryLimit,
  requiredString,
  type Body,
} from './fields.js';

const seconds = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** A key as the admin API shows it; never the secret or its hash. */
export function keyView(key: ApiKeyRecord) {
  return {
    object: 'api_key' as const,
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    source: key.source,
    enabled: key.enabled,
    created_at: seconds(key.createdAt),
    expires_at: seconds(key.expiresAt),
    revoked_at: seconds(key.revokedAt),
    unlimited: key.balance === null,
    balance: key.balance,
    balance_usd: key.balance === null ? null : creditsToUsd(key.balance),
    allowed_models: key.allowedModels,
    ip_allowlist: key.ipAllowlist,
    rate_limits: {
      requests_per_minute: key.rateLimits.requestsPerMinute,
      images_per_minute: key.rateLimits.imagesPerMinute,
      concurrent_requests: key.rateLimits.concurrentRequests,
    },
    price_group: key.priceGroup,
  };
}

const keyFields = ['name', 'unlimited', 'quota', 'quota_usd', 'expires_at', 'allowed_models', 'ip_allowlist', 'rate_limits', 'price_group', 'enabled'] as const;
const rateLimitFields = ['requests_per_minute', 'images_per_minute', 'concurrent_requests'] as const;

/** The policy fields shared by create and update, checked against the catalog and price list. */
function readPolicy(body: Body, deps: AdminDeps, current: KeyRateLimits): ApiKeyPatch {
  const patch: ApiKeyPatch = {};
  const name = optionalString(body, 'name');
  if (name !== undefined) patch.name = name;
  const expiresAt = optionalNullableTime(body, 'expires_at');
  if (expiresAt !== undefined) patch.expiresAt = expiresAt;
  const models = optionalNullableStringList(body, 'allowed_models');
  if (models !== undefined) {
    patch.allowedModels =
      models === null
        ? null
        : models.map((model) => {
            const resolved = deps.catalog.get(model);
            if (!resolved) throw new GatewayError('invalid_value', `Invalid value for 'allowed_models': '${model}' is not a catalog model.`, { param: 'allowed_models' });
            return resolved.model.id;
          });
  }
  const allowlist = optionalNullableStringList(body, 'ip_allowlist');
  if (allowlist !== undefined) {
    if (allowlist !== null) {
      for (const entry of allowlist) {
        try {
          parseAllowlistEntry(entry);
        } catch (error) {
          throw new GatewayError('invalid_value', `Invalid value for 'ip_allowlist': ${(error as Error).message}.`, { param: 'ip_allowlist' });
        }
      }
    }
    patch.ipAllowlist = allowlist;
  }
  const limits = optionalObject(body, 'rate_limits', rateLimitFields);
  if (limits !== undefined) {
    const read = (field: (typeof rateLimitFields)[number], fallback: number | null) => {
      const value = optionalNullableCount(limits, field, `rate_limits.${field}`);
      return value === undefined ? fallback : value;
    };
    // Fields left out keep their value; null removes that limit.
    patch.rateLimits = {
      requestsPerMinute: read('requests_per_minute', current.requestsPerMinute),
      imagesPerMinute: read('images_per_minute', current.imagesPerMinute),
      concurrentRequests: read('concurrent_requests', current.concurrentRequests),
    };
  }
  const group = optionalString(body, 'price_group', 64);
  if (group !== undefined) {
    if (!deps.prices.book.hasGroup(group)) {
      throw new GatewayError('invalid_value', `Invalid value for 'price_group': no price group '${group}'. Create it with PUT /admin/v1/price-groups/${group}.`, { param: 'price_group' });
    }
    patch.priceGroup = group;
  }
  return patch;
}

/** Credits from `<field>` (credits) or `<field>_usd` (a dollar string); at most one of the two. */
function readAmount(body: Body, field: string): number | undefined {
  const credits = optionalCredits(body, field);
  const usd = body[`${field}_usd`];
  if (credits !== undefined && usd !== undefined) throw new GatewayError('invalid_value', `Give '${field}' (credits) or '${field}_usd', not both.`, { param: field });
  if (usd === undefined) return credits;
  if (typeof usd !== 'string') throw new GatewayError('invalid_value', `Invalid value for '${field}_usd': expected a decimal string such as "1.50".`, { param: `${field}_usd` });
  try {
    return usdToCredits(usd, `${field}_usd`);
  } catch (error) {
    throw new GatewayError('invalid_value', `Invalid value for '${field}_usd': ${(error as Error).message}.`, { param: `${field}_usd` });
  }
}

export function registerKeyRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const load = async (id: string): Promise<ApiKeyRecord> => {
    const key = await deps.keys.findById(id);
    if (!key) throw new GatewayError('not_found', `No API key with id '${id}'.`, { param: 'id' });
    return key;
  };
  const changed = () => app.forgetCachedKeys();

  app.post('/keys', { config: { audit: 'key.created' } }, async (request, reply) => {
    const body = objectBody(request.body, keyFields);
    const name = requiredString(body, 'name');
    const unlimited = optionalBoolean(body, 'unlimited') ?? false;
    const quota = readAmount(body, 'quota');
    if (unlimited && quota !== undefined) throw new GatewayError('invalid_value', "An unlimited key has no quota: leave out 'quota' or 'unlimited'.", { param: 'quota' });
    const secret = generateApiKey();
    const base = newKeyRecord(secret, { name, source: 'admin', now: deps.clock.now() });
    const policy = readPolicy(body, deps, base.rateLimits);
    // Keys made here are metered unless the operator says otherwise: a forgotten quota answers
    // `insufficient_quota` instead of giving unlimited access away.
    const record: ApiKeyRecord = { ...base, ...policy, enabled: optionalBoolean(body, 'enabled') ?? true, balance: unlimited ? null : 0 };
    await deps.keys.insert(record);
    request.auditTarget = record.id;
    if (!unlimited && quota !== undefined && quota > 0) await deps.billing.topUp(record.id, quota, 'initial quota', 'initial');
    changed();
    const stored = await load(record.id);
    return reply.code(201).send({ ...keyView(stored), secret });
  });

  /** Top-ups, write-offs and charges, newest first: how the balance came to be. */
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>('/keys/:id/history', { config: { keyHolder: true } }, async (request) => {
    const notFound = () => new GatewayError('not_found', `No API key with id '${request.params.id}'.`, { param: 'id' });
    assertVisible(request, request.params.id, notFound);
    const key = await load(request.params.id);
    const entries = await deps.insights.ledger(key.id, queryLimit(request.query.limit, 100, 1000));
    return {
      object: 'list',
      key_id: key.id,
      balance: key.balance,
      data: entries.map((entry) => ({ at: Math.floor(entry.at / 1000), kind: entry.kind, amount: entry.amount, amount_usd: creditsToUsd(Math.abs(entry.amount)), note: entry.note, reference: entry.reference })),
    };
  });

  /** A key holder's own key, with its account (balance, granted, charged, held). */
  app.get('/me', { config: { keyHolder: true } }, async (request) => {
    const principal = request.principal;
    if (principal.role !== 'key') throw new GatewayError('not_found', 'The operator has no key of their own; see GET /admin/v1/keys.');
    const key = await load(principal.keyId);
    return { ...keyView(key), account: key.balance === null ? null : await deps.billing.account(key.id) };
  });

  app.get('/keys', async () => ({ object: 'list', data: (await deps.keys.list()).map(keyView) }));

  app.get<{ Params: { id: string } }>('/keys/:id', { config: { keyHolder: true } }, async (request) => {
    assertVisible(request, request.params.id, () => new GatewayError('not_found', `No API key with id '${request.params.id}'.`, { param: 'id' }));
    const key = await load(request.params.id);
    return { ...keyView(key), account: key.balance === null ? null : await deps.billing.account(key.id) };
  });

  app.patch<{ Params: { id: string } }>('/keys/:id', { config: { audit: 'key.changed' } }, async (request) => {
    const body = objectBody(request.body, keyFields.filter((field) => field !== 'quota' && field !== 'quota_usd'));
    const current = await load(request.params.id);
    const patch = readPolicy(body, deps, current.rateLimits);
    const enabled = optionalBoolean(body, 'enabled');
    if (enabled === true && current.revokedAt !== null) throw new GatewayError('conflict', `Key '${current.id}' was revoked; create a new key instead.`, { param: 'enabled' });
    if (enabled !== undefined) patch.enabled = enabled;
    const unlimited = optionalBoolean(body, 'unlimited');
    await deps.keys.update(current.id, patch);
    if (unlimited !== undefined) await deps.billing.setMetered(current.id, !unlimited, 0, 'changed by the admin API');
    changed();
    return keyView(await load(current.id));
  });

  const revoke = async (id: string) => {
    const key = await load(id);
    await deps.keys.revoke(key.id, deps.clock.now());
    // A revoked key's console sessions end with it.
    await deps.sessionStore.deleteForKey(key.id);
    changed();
    return keyView(await load(key.id));
  };
  app.post<{ Params: { id: string } }>('/keys/:id/revoke', { config: { audit: 'key.revoked' } }, async (request) => revoke(request.params.id));
  app.delete<{ Params: { id: string } }>('/keys/:id', { config: { audit: 'key.revoked' } }, async (request) => revoke(request.params.id));

  app.post<{ Params: { id: string } }>('/keys/:id/topup', { config: { audit: 'key.topped_up' } }, async (request) => {
    const body = objectBody(request.body, ['amount', 'amount_usd', 'note']);
    const amount = readAmount(body, 'amount');
    if (amount === undefined || amount === 0) throw new GatewayError('missing_required_parameter', "Give 'amount' (credits, at least 1) or 'amount_usd'.", { param: 'amount' });
    const key = await load(request.params.id);
    const balance = await deps.billing.topUp(key.id, amount, optionalString(body, 'note', 500) ?? null);
    request.auditDetail = { balance };
    return { object: 'topup', id: key.id, added: amount, added_usd: creditsToUsd(amount), balance, balance_usd: creditsToUsd(balance) };
  });
}
