// The BFL-compatible API: POST /bfl/v1/{model} (and the /flux/v1/{model} alias some relays use)
// answering `{id, polling_url}`, GET /bfl/v1/get_result?id= answering BFL's result object. Auth by
// BFL's `x-key` header as well as Bearer. Each submission is a durable task of the gateway.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../../http/deps.js';
import { callbackOf } from '../../http/image-tasks.js';
import { publicBase } from '../../http/routes/image-operation.js';
import { acceptKeyHeader, keyOf, resultRendererFor, setDialectErrorHandler, submitDialectTask } from '../shared/submit-task.js';
import { renderBflResult, taskNotFound } from './render.js';
import { translateBflBody } from './translate.js';

export const bflDialect = 'bfl';

/** A BFL `webhook_secret` is any string; its bytes key the Standard Webhooks signature the gateway sends. */
function whsecOf(secret: string): string {
  if (Buffer.byteLength(secret) < 12) {
    throw new GatewayError('invalid_value', "'webhook_secret' must be at least 12 characters long.", { param: 'webhook_secret' });
  }
  return secret.startsWith('whsec_') ? secret : `whsec_${Buffer.from(secret).toString('base64')}`;
}

export async function bflRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  deps.dialectRenderers?.register(bflDialect, (task, renderer) => renderBflResult(task, renderer));

  // BFL's FastAPI answers a bad body with 422 and `detail: [{loc, msg, type}]`, other errors with `detail: "<text>"`.
  setDialectErrorHandler(app, (error) =>
    error.status === 400
      ? { status: 422, body: { detail: [{ loc: ['body', ...(error.param === null ? [] : [error.param])], msg: error.message, type: error.code }], ...error.toBody() } }
      : { body: { detail: error.message, ...error.toBody() } },
  );
  app.addHook('onRequest', async (request) => acceptKeyHeader(request, 'x-key'));

  for (const prefix of ['/bfl/v1', '/flux/v1']) {
    app.get<{ Querystring: { id?: string } }>(`${prefix}/get_result`, { preHandler: app.authenticate }, async (request) => {
      request.imagegate.endpoint = 'bfl.get_result';
      const id = request.query.id;
      if (typeof id !== 'string' || id === '') throw new GatewayError('missing_required_parameter', "Missing required query parameter: 'id'.", { param: 'id' });
      const task = await deps.tasks.get(id, keyOf(request).id);
      if (task === undefined) return taskNotFound(id);
      request.imagegate.model = task.model;
      return renderBflResult(task, resultRendererFor(request, deps));
    });

    app.post<{ Params: { model: string } }>(`${prefix}/:model`, { preHandler: app.authenticate }, async (request: FastifyRequest<{ Params: { model: string } }>, reply) => {
      request.imagegate.endpoint = 'bfl.submit';
      const body = request.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
      const translation = translateBflBody(request.params.model, body as Record<string, unknown>);
      const base = publicBase(request, deps);
      const callback =
        translation.webhook === undefined
          ? undefined
          : await callbackOf(
              { callback_url: translation.webhook.url, ...(translation.webhook.secret === undefined ? {} : { webhook_secret: whsecOf(translation.webhook.secret) }) },
              deps,
              base,
            );
      const { task } = await submitDialectTask(request, reply, deps, {
        fields: translation.fields,
        images: translation.images,
        dialect: { name: bflDialect, data: { endpoint: request.params.model } },
        ...(callback === undefined ? {} : { callback }),
      });
      // "POST /v1/{model} → 200 {id, polling_url}"; the polling URL is on the same prefix the client used.
      return { id: task.id, polling_url: `${base}${prefix}/get_result?id=${encodeURIComponent(task.id)}` };
    });
  }
}
