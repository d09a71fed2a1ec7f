// Masks secrets in what the audit log keeps: any field whose name says it holds a secret, at any
// depth, keeps only a hint (its first and last characters), never the value.

import { maskKey } from '../http/auth.js';

const secretField = /(secret|token|password|api_?keys?|authorization)$/i;
const maxDepth = 6;
const maxString = 500;

export function maskSecrets(value: unknown, depth = 0, field = ''): unknown {
  if (secretField.test(field)) {
    if (typeof value === 'string') return maskKey(value);
    if (Array.isArray(value)) return value.map((item) => (typeof item === 'string' ? maskKey(item) : '***'));
    return value === undefined || value === null ? value : '***';
  }
  if (depth >= maxDepth) return '…';
  if (typeof value === 'string') return value.length > maxString ? `${value.slice(0, maxString)}…` : value;
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => maskSecrets(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).slice(0, 100).map(([name, item]) => [name, maskSecrets(item, depth + 1, name)]));
  }
  return value;
}
