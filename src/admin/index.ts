// The admin API under /admin/v1: keys, channels, prices, request logs and usage, for operators.
// Authorized by `Authorization: Bearer <IMAGEGATE_ADMIN_TOKEN>`; with no token configured it is
// switched off and says so (403), since an open admin API would hand out keys and credits.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { extractApiKey } from '../http/auth.js';
import { registerChannelRoutes } from './channels.js';
import type { AdminDeps } from './deps.js';
import { registerKeyRoutes } from './keys.js';
import { registerLogRoutes } from './logs.js';
import { registerPriceRoutes } from './prices.js';

export const adminPrefix = '/admin/v1';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Builds the token check once; hashing both sides makes the comparison constant-time at any length. */
export function createAdminAuthorizer(token: string | undefined): (request: FastifyRequest) => void {
  const expected = token === undefined ? undefined : digest(token);
  return (request) => {
    if (expected === undefined) {
      throw new GatewayError('permission_denied', 'The admin API is disabled: set IMAGEGATE_ADMIN_TOKEN and restart to enable it.');
    }
    const presented = extractApiKey(request);
    if (presented === undefined) {
      throw new GatewayError('invalid_api_key', "The admin API needs the admin token: 'Authorization: Bearer <IMAGEGATE_ADMIN_TOKEN>'.");
    }
    if (!timingSafeEqual(digest(presented), expected)) throw new GatewayError('invalid_api_key', 'Incorrect admin token provided.');
  };
}

export async function registerAdminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const authorize = createAdminAuthorizer(deps.token);
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', async (request) => authorize(request));
      registerKeyRoutes(scope, deps);
      registerChannelRoutes(scope, deps);
      registerPriceRoutes(scope, deps);
      registerLogRoutes(scope, deps);
    },
    { prefix: adminPrefix },
  );
}
