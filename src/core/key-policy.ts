// What a key may ask for beyond authentication: its allowed models.
//
// A model outside a key's list is refused with 403 `permission_denied`, not 404: the model exists
// (GET /v1/models lists it), so "does not exist" would send the caller hunting for a typo, while
// 403 says the key lacks the permission — OpenAI likewise answers 403 when a restricted key or
// project may not use a model, and its SDKs raise PermissionDeniedError and do not retry it.

import { GatewayError } from './errors.js';
import type { ApiKeyRecord } from './ports/key-store.js';

/** Whether the key may use `modelId` (catalog id), or the name a client knows it by. */
export function isModelAllowed(key: ApiKeyRecord | undefined, modelId: string, requestedModel: string = modelId): boolean {
  const allowed = key?.allowedModels;
  return !allowed || allowed.includes(modelId) || allowed.includes(requestedModel);
}

/** Throws unless the key may use `modelId` (catalog id; the name the client sent is accepted too, for aliases). */
export function assertModelAllowed(key: ApiKeyRecord | undefined, modelId: string, requestedModel: string = modelId): void {
  const allowed = key?.allowedModels;
  if (!allowed || allowed.includes(modelId) || allowed.includes(requestedModel)) return;
  throw new GatewayError(
    'permission_denied',
    `This API key may not use the model '${requestedModel}'. It may use: ${allowed.length > 0 ? allowed.join(', ') : 'no models'}.`,
    { param: 'model' },
  );
}
