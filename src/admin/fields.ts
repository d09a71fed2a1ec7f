// Reading admin request bodies and query strings: every field checked once, every mistake a 400
// naming the field, and a field the API does not know is refused rather than silently dropped.

import { GatewayError } from '../core/errors.js';
import { maxCredits } from '../core/money.js';

export type Body = Record<string, unknown>;

export function objectBody(body: unknown, allowed: readonly string[]): Body {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
  const unknown = Object.keys(body).filter((field) => !allowed.includes(field));
  if (unknown.length > 0) {
    throw new GatewayError('unknown_parameter', `Unknown parameter: '${unknown[0]}'. Accepted: ${allowed.join(', ')}.`, { param: unknown[0] ?? null });
  }
  return body as Body;
}

const invalid = (param: string, expected: string, value: unknown): GatewayError =>
  new GatewayError('invalid_value', `Invalid value for '${param}': expected ${expected}, got ${JSON.stringify(value)?.slice(0, 100) ?? 'nothing'}.`, { param });

export function requiredString(body: Body, field: string, maxLength = 200): string {
  const value = body[field];
  if (value === undefined || value === null) throw new GatewayError('missing_required_parameter', `Missing required parameter: '${field}'.`, { param: field });
  return checkedString(value, field, maxLength);
}

export function optionalString(body: Body, field: string, maxLength = 200): string | undefined {
  const value = body[field];
  return value === undefined ? undefined : checkedString(value, field, maxLength);
}

function checkedString(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) throw invalid(field, `a non-empty string of at most ${maxLength} characters`, value);
  return value.trim();
}

export function optionalBoolean(body: Body, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(field, 'true or false', value);
  return value;
}

/** undefined: not given; null: explicitly cleared. */
export function optionalNullableCount(body: Body, field: string, param = field): number | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalid(param, 'a whole number of at least 1, or null for no limit', value);
  return value;
}

export function optionalCredits(body: Body, field: string): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > maxCredits) {
    throw invalid(field, `a whole number of credits from 0 to ${maxCredits} (1 credit = $0.000001)`, value);
  }
  return value;
}

/** undefined: not given; null: cleared (no restriction). */
export function optionalNullableStringList(body: Body, field: string): string[] | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.trim() === '') || value.length > 1000) {
    throw invalid(field, 'an array of non-empty strings, or null', value);
  }
  return [...new Set(value.map((item: string) => item.trim()))];
}

/** A time given as Unix seconds or an ISO 8601 string → ms since epoch; null clears it. */
export function optionalNullableTime(body: Body, field: string): number | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value * 1000;
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return Date.parse(value);
  throw invalid(field, 'Unix seconds or an ISO 8601 date-time, or null', value);
}

export function optionalObject(body: Body, field: string, allowed: readonly string[]): Body | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'an object', value);
  const unknown = Object.keys(value).filter((name) => !allowed.includes(name));
  if (unknown.length > 0) throw new GatewayError('unknown_parameter', `Unknown parameter: '${field}.${unknown[0]}'. Accepted: ${allowed.join(', ')}.`, { param: `${field}.${unknown[0]}` });
  return value as Body;
}

/** Query-string limit: 1..max, default `fallback`. */
export function queryLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw invalid('limit', `a whole number from 1 to ${max}`, value);
  return Number(value);
}

export function queryString(value: unknown, param: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new GatewayError('invalid_value', `'${param}' must be given once.`, { param });
  return value;
}
