// A channel's definition at the edges: checks what the config file or the admin API sends, turns it
// into the stored record, applies patches, and renders the public view with upstream keys masked.

import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ChannelSchema, type ChannelConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import type { ChannelRecord } from '../core/ports/channel-store.js';

/** What creates a channel: the config file's shape (snake_case), also the admin API's body. */
export type ChannelInput = ChannelConfig;

/** Fields a patch may set to null to go back to the default. */
const clearableFields = ['base_url', 'timeout_ms', 'poll_interval_ms', 'max_concurrency', 'max_queue'] as const;
type ClearableField = (typeof clearableFields)[number];

/** A change to a channel: any field but the name; null clears an optional setting. */
export type ChannelPatch = {
  [Field in Exclude<keyof ChannelInput, 'name'>]?: ChannelInput[Field] | (Field extends ClearableField ? null : never);
};

const ChannelPatchSchema = Type.Partial(Type.Omit(ChannelSchema, ['name']), { additionalProperties: false });

/** Names appear in logs, headers and URLs (/admin/v1/channels/{name}). */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Runtime health, shown beside the definition. */
export interface ChannelHealth {
  circuit: 'closed' | 'open' | 'half_open';
  consecutive_failures: number;
  /** While open: when a probe is let through (unix seconds). */
  retry_at: number | null;
  in_flight: number;
  queued: number;
  /** Positions (0-based) of keys an upstream rejected; skipped until the channel is changed or enabled. */
  rejected_keys: number[];
  /** Positions of keys whose upstream account is out of credit; skipped likewise until a top-up and an enable. */
  out_of_funds_keys: number[];
}

/** A channel as the admin API shows it: every setting, keys masked, and its live health. */
export interface ChannelView {
  name: string;
  provider: string;
  base_url: string | null;
  /** Masked (`sk-…wxyz`): the keys themselves never leave the gateway. */
  api_keys: string[];
  models: string[];
  model_map: Record<string, string>;
  priority: number;
  weight: number;
  enabled: boolean;
  disabled_reason: string | null;
  max_concurrency: number | null;
  max_queue: number | null;
  timeout_ms: number | null;
  poll_interval_ms: number | null;
  options: Record<string, unknown>;
  source: 'config' | 'admin';
  created_at: number;
  updated_at: number;
  health: ChannelHealth;
}

/** Shows enough of a key to tell keys apart, never enough to use one. */
export function maskSecret(secret: string): string {
  if (secret.length >= 16) return `${secret.slice(0, 3)}…${secret.slice(-4)}`;
  if (secret.length >= 8) return `…${secret.slice(-2)}`;
  return '…';
}

/** Checks a channel definition's shape; the error names the offending field. */
export function checkChannelInput(input: unknown): ChannelInput {
  if (!Value.Check(ChannelSchema, input)) throw shapeError(ChannelSchema, input);
  const channel = input;
  if (!namePattern.test(channel.name)) {
    throw new GatewayError('invalid_value', `Invalid 'name': '${channel.name}'. Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`, { param: 'name' });
  }
  checkCommon(channel);
  return channel;
}

/** Checks a patch's shape; null for clearable fields is allowed. */
export function checkChannelPatch(input: unknown): ChannelPatch {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new GatewayError('invalid_value', 'A channel change must be a JSON object.', { param: null });
  }
  const present = Object.fromEntries(
    Object.entries(input).filter(([field, value]) => !(value === null && (clearableFields as readonly string[]).includes(field))),
  );
  if ('name' in present) throw new GatewayError('invalid_value', "A channel's name cannot be changed; create a new channel instead.", { param: 'name' });
  if (!Value.Check(ChannelPatchSchema, present)) throw shapeError(ChannelPatchSchema, present);
  checkCommon(present);
  return input as ChannelPatch;
}

function checkCommon(channel: { api_key?: string; api_keys?: string[]; base_url?: string }): void {
  if (channel.api_key !== undefined && channel.api_keys !== undefined) {
    throw new GatewayError('invalid_value', "Give either 'api_key' or 'api_keys', not both.", { param: 'api_keys' });
  }
  if (channel.base_url !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(channel.base_url);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
      throw new GatewayError('invalid_value', "Invalid 'base_url': expected an absolute http(s) URL without credentials.", { param: 'base_url' });
    }
  }
}

function shapeError(schema: Parameters<typeof Value.Errors>[0], value: unknown): GatewayError {
  const first = Value.Errors(schema, value).First();
  const field = first?.path.split('/').filter(Boolean)[0] ?? null;
  const message = first === undefined ? 'invalid channel definition' : first.message;
  return new GatewayError('invalid_value', field === null ? `Invalid channel: ${message}.` : `Invalid '${field}': ${message}.`, { param: field });
}

/** The stored record for a checked definition. */
export function recordFromInput(channel: ChannelInput, source: ChannelRecord['source'], now: number): ChannelRecord {
  const enabled = channel.enabled ?? true;
  return {
    name: channel.name,
    provider: channel.provider,
    baseUrl: channel.base_url?.replace(/\/+$/, '') ?? null,
    apiKeys: channel.api_keys ?? (channel.api_key === undefined || channel.api_key === '' ? [] : [channel.api_key]),
    models: [...channel.models],
    modelMap: { ...channel.model_map },
    priority: channel.priority ?? 0,
    weight: channel.weight ?? 1,
    enabled,
    disabledReason: enabled ? null : source === 'config' ? 'config' : 'admin',
    maxConcurrency: channel.max_concurrency ?? null,
    maxQueue: channel.max_queue ?? null,
    timeoutMs: channel.timeout_ms ?? null,
    pollIntervalMs: channel.poll_interval_ms ?? null,
    options: { ...channel.options },
    source,
    configHash: source === 'config' ? configDigest(channel) : null,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Applies a checked patch. Keys sent back in their masked form (a client that read a channel and
 * wrote it back whole) keep the key they stand for instead of replacing it with the mask.
 */
export function applyPatch(record: ChannelRecord, patch: ChannelPatch, now: number): ChannelRecord {
  const next: ChannelRecord = { ...record, updatedAt: now };
  const keepMasked = (key: string): string => record.apiKeys.find((existing) => maskSecret(existing) === key && key.includes('…')) ?? key;
  if (patch.provider !== undefined) next.provider = patch.provider;
  if (patch.base_url !== undefined) next.baseUrl = patch.base_url === null ? null : patch.base_url.replace(/\/+$/, '');
  if (patch.api_keys !== undefined) next.apiKeys = patch.api_keys.map(keepMasked);
  if (patch.api_key !== undefined) next.apiKeys = patch.api_key === '' ? [] : [keepMasked(patch.api_key)];
  if (patch.models !== undefined) next.models = [...patch.models];
  if (patch.model_map !== undefined) next.modelMap = { ...patch.model_map };
  if (patch.priority !== undefined) next.priority = patch.priority;
  if (patch.weight !== undefined) next.weight = patch.weight;
  if (patch.enabled !== undefined) {
    next.enabled = patch.enabled;
    next.disabledReason = patch.enabled ? null : 'admin';
  }
  if (patch.max_concurrency !== undefined) next.maxConcurrency = patch.max_concurrency;
  if (patch.max_queue !== undefined) next.maxQueue = patch.max_queue;
  if (patch.timeout_ms !== undefined) next.timeoutMs = patch.timeout_ms;
  if (patch.poll_interval_ms !== undefined) next.pollIntervalMs = patch.poll_interval_ms;
  if (patch.options !== undefined) next.options = { ...patch.options };
  return next;
}

export function viewOf(record: ChannelRecord, health: ChannelHealth): ChannelView {
  return {
    name: record.name,
    provider: record.provider,
    base_url: record.baseUrl,
    api_keys: record.apiKeys.map(maskSecret),
    models: [...record.models],
    model_map: { ...record.modelMap },
    priority: record.priority,
    weight: record.weight,
    enabled: record.enabled,
    disabled_reason: record.enabled ? null : record.disabledReason,
    max_concurrency: record.maxConcurrency,
    max_queue: record.maxQueue,
    timeout_ms: record.timeoutMs,
    poll_interval_ms: record.pollIntervalMs,
    options: structuredClone(record.options),
    source: record.source,
    created_at: Math.floor(record.createdAt / 1000),
    updated_at: Math.floor(record.updatedAt / 1000),
    health,
  };
}

/** A digest of the config file's definition: the same text twice gives the same digest. */
export function configDigest(channel: ChannelInput): string {
  return createHash('sha256').update(stableJson(channel)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
