// Validates a request's `callback_url` (alias `webhook_url`) when the task is submitted, with the very
// rule the webhook is later delivered under: the user-URL client's check (public addresses only,
// names resolved, unless network.user_url_allow_hosts names the host). A URL accepted here is one the
// gateway will call; a URL refused at delivery would have been refused here.

import { GatewayError } from '../core/errors.js';
import { HttpClientError, type UserUrlClient } from '../core/ports/http-client.js';

const maxUrlLength = 2048;

/** Returns the URL to call, or throws `invalid_value` naming the field it came from. */
export async function checkCallbackUrl(value: unknown, param: string, userUrls: UserUrlClient): Promise<string> {
  if (typeof value !== 'string' || value.length === 0) throw new GatewayError('invalid_value', `'${param}' must be an http(s) URL.`, { param });
  if (value.length > maxUrlLength) throw new GatewayError('invalid_value', `'${param}' is longer than ${maxUrlLength} characters.`, { param });
  try {
    return (await userUrls.check(value)).toString();
  } catch (error) {
    if (!(error instanceof HttpClientError)) throw error;
    const reason =
      error.reason === 'blocked_address'
        ? 'it points at a private or local address, which this gateway does not call'
        : `it is not a URL this gateway calls (${error.message})`;
    throw new GatewayError('invalid_value', `'${param}' is refused: ${reason}.`, { param, cause: error });
  }
}
