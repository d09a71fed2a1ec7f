// Kling's API authentication: a JWT (RFC 7519, HS256) signed with the secret key, `iss` = access key,
// sent as `Authorization: Bearer <token>`. From Kling's "通用信息 / 接口鉴权" page
// (https://app.klingai.com/global/dev/document-api/apiReference/commonInfo; mirrored in
// WHQ25/rawgenai docs/research/kling/common-info.md):
//   headers = {"alg": "HS256", "typ": "JWT"}
//   payload = {"iss": ak, "exp": int(time.time()) + 1800, "nbf": int(time.time()) - 5}
//   token = jwt.encode(payload, sk, headers=headers)
//   Authorization = "Bearer XXX" (注意 Bearer 跟 XXX 之间有空格)

import { SignJWT } from 'jose';
import { GatewayError } from '../../core/errors.js';

/** Kling's own examples: valid 30 minutes, and from 5 seconds ago (clock skew). */
const lifetimeSeconds = 1800;
const notBeforeSkewSeconds = 5;
/** A token is renewed this long before it expires, so one in flight never arrives expired (code 1004). */
const renewBeforeSeconds = 300;

export interface KlingCredentials {
  accessKey: string;
  secretKey: string;
}

/**
 * A channel carries the pair in its one `api_key` as `<access key>:<secret key>` (the way fal's
 * FAL_KEY_ID and FAL_KEY_SECRET are joined); Kling's keys never contain a colon.
 */
export function parseKlingCredentials(apiKey: string): KlingCredentials {
  const separator = apiKey.indexOf(':');
  const accessKey = separator < 0 ? '' : apiKey.slice(0, separator).trim();
  const secretKey = separator < 0 ? '' : apiKey.slice(separator + 1).trim();
  if (accessKey === '' || secretKey === '') {
    // The value itself is never repeated: it is (half) a secret.
    throw new GatewayError('upstream_auth_failed', "The Kling channel's api_key must be '<access key>:<secret key>'", { retryable: false });
  }
  return { accessKey, secretKey };
}

/** Signs tokens as Kling's examples do, reusing one until it is close to expiry. */
export function createKlingTokenSource(credentials: KlingCredentials, now: () => number = Date.now): () => Promise<string> {
  const secret = new TextEncoder().encode(credentials.secretKey);
  let cached: { token: string; expiresAt: number } | undefined;
  return async () => {
    const seconds = Math.floor(now() / 1000);
    if (cached !== undefined && cached.expiresAt - renewBeforeSeconds > seconds) return cached.token;
    const expiresAt = seconds + lifetimeSeconds;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(credentials.accessKey)
      .setExpirationTime(expiresAt)
      .setNotBefore(seconds - notBeforeSkewSeconds)
      .sign(secret);
    cached = { token, expiresAt };
    return token;
  };
}
