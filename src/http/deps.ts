// What the HTTP layer is built from: the core services and ports, assembled by main.ts.

import type { BodyBudget } from './body-budget.js';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Catalog } from '../core/catalog/catalog.js';
import type { ImageService } from '../core/generate-images.js';
import type { Billing } from '../core/ports/billing.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { UserUrlClient } from '../core/ports/http-client.js';
import type { ApiKeyRecord, KeyStore } from '../core/ports/key-store.js';
import type { RateLimiter } from '../core/ports/rate-limiter.js';
import type { RequestLog } from '../core/ports/request-log.js';
import type { ResultLinks } from '../core/result-links.js';
import type { UrlSigner } from '../core/signed-urls.js';
import type { IdempotencyService } from '../idempotency/service.js';
import type { DialectRenderers } from '../tasks/dialect-renderers.js';
import type { TaskService } from '../tasks/task-service.js';
import type { WebhookView } from '../tasks/task-view.js';

export interface HttpDeps {
  catalog: Catalog;
  images: ImageService;
  keys: KeyStore;
  requestLog: RequestLog;
  billing: Billing;
  rateLimiter: RateLimiter;
  blobs: BlobStore;
  signer: UrlSigner;
  /** The guarded client of URLs named in request bodies: public-only unless network.user_url_allow_hosts says otherwise. */
  userUrls: UserUrlClient;
  /** Hosted-result URLs (gateway-signed or presigned by the object store). */
  links: ResultLinks;
  clock: Clock;
  logger: Logger;
  /** The key of a console session making an API request (the playground); see AuthOptions.sessionKey. */
  sessionKey?: (request: FastifyRequest) => Promise<ApiKeyRecord | undefined>;
  /** Throws when a dependency (database, storage) is not usable. */
  checkReadiness: () => Promise<void>;
  /** Which provider serves each model, for response headers and /v1/models. */
  describeRoute: (modelId: string) => { provider: string; channel: string; routed: boolean; servedAs?: string };
  /** Asynchronous tasks, idempotency keys and the webhooks of tasks (src/tasks, src/idempotency, src/webhooks). */
  tasks: TaskService;
  idempotency: IdempotencyService;
  webhooks: { describe(taskId: string): Promise<WebhookView | undefined> };
  /** A webhook secret of one scope (a key's Replicate webhooks), derived from the gateway's. */
  scopedWebhookSecret?: (scope: string) => string;
  /** Where the API dialects (src/dialects) register how their tasks are delivered to webhooks. */
  dialectRenderers?: DialectRenderers;
  /** The request bodies this process holds at once (./body-budget.ts). */
  bodyBudget: BodyBudget;
  settings: {
    publicUrl: string | undefined;
    bodyLimitBytes: number;
    /** Between SSE heartbeat comments on image streams; 15 s when absent. */
    streamHeartbeatMs?: number;
    maxImageBytes: number;
    /** images.max_input_megapixels in pixels: the cap on any input image's width × height. */
    maxInputPixels?: number;
    /** Proxies (addresses/CIDRs) whose X-Forwarded-For is believed for the client address; none when absent. */
    trustProxy?: string[];
  };
}
