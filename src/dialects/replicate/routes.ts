// The Replicate-compatible API under /replicate/v1, for the official `replicate` client
// (`new Replicate({ auth, baseUrl: 'https://gateway/replicate/v1' })`): create a prediction
// (official-model and version style), get, cancel, list the key's own, `Prefer: wait[=n]`, and
// webhooks signed as Replicate signs them, with the secret from GET /webhooks/default/secret.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogModel } from '../../core/catalog/types.js';
import { GatewayError } from '../../core/errors.js';
import { acceptedAspectRatios, formatSize, parseRatio, sizeForRatio } from '../../core/sizes.js';
import type { TaskRecord } from '../../core/ports/task-store.js';
import type { HttpDeps } from '../../http/deps.js';
import { checkCallbackUrl } from '../../webhooks/callback-url.js';
import { publicBase } from '../../http/routes/image-operation.js';
import { dialectOf } from '../../tasks/dialect-renderers.js';
import { keyOf, resultRendererFor, setDialectErrorHandler, submitDialectTask } from '../shared/submit-task.js';
import { replicateModel, translateReplicateInput } from './models.js';
import { renderPrediction, replicateDialect, type ReplicateDialectData } from './render.js';
import { exceedsDepth, maxJsonDepth } from '../../http/json-body.js';

const prefix = '/replicate/v1';
/** `Prefer` on create: "^wait(=([1-9]|[1-9][0-9]|60))?$ i.e. 1–60 s, default 60" (Replicate's OpenAPI schema). */
const preferPattern = /^wait(?:=([1-9]|[1-9][0-9]|60))?$/;
const webhookEvents = new Set(['start', 'output', 'logs', 'completed']);
const listPageSize = 100;
/** How often a `Prefer: wait` request looks at its task (in the shared store, so any process may run it). */
const waitPollMs = 100;
const finished = new Set(['succeeded', 'failed', 'canceled']);

/** A 64-hex version id, as in `owner/name:<version>`. */
const versionPattern = /^[0-9a-f]{64}$/;

function preferWaitSeconds(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
  const match = preferPattern.exec(value);
  if (match === null) throw new GatewayError('invalid_value', `Prefer: must match ${preferPattern.source} (wait, or wait=1 to wait=60).`, { param: 'Prefer' });
  return match[1] === undefined ? 60 : Number(match[1]);
}

/** A refusal Replicate titles itself, without `invalid_fields` (the 422s of input validation carry them). */
class ReplicateProblem extends GatewayError {
  constructor(
    readonly title: string,
    detail: string,
    param: string,
  ) {
    super('invalid_value', detail, { param });
  }
}

/** `version` on POST /predictions: "owner/name" (official), "owner/name:<64hex>", or a bare "<64hex>". */
function parseVersion(version: unknown): { model: string; version: string | null } {
  if (typeof version !== 'string' || version === '') throw new GatewayError('missing_required_parameter', 'version: version is required.', { param: 'version' });
  const match = /^([^/:\s]+\/[^/:\s]+)(?::([0-9a-f]{64}))?$/.exec(version);
  if (match?.[1] !== undefined) return { model: match[1], version: match[2] ?? null };
  if (versionPattern.test(version)) {
    // The gateway keeps no version ids (its models are named, not versioned), so a bare id names no
    // model here: Replicate's own answer for a version it does not have, a 422 in its words (as the
    // SDKs' users see it from api.replicate.com), with the form that works.
    throw new ReplicateProblem(
      'Invalid version or not permitted',
      `The specified version does not exist (or perhaps you don't have permission to use it?) This gateway knows its models by name: send "owner/name" or "owner/name:${version}".`,
      'version',
    );
  }
  throw new GatewayError('invalid_value', 'version: expected "owner/name", "owner/name:<version id>" or a 64-character version id.', { param: 'version' });
}

function webhookFilter(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((event) => typeof event !== 'string' || !webhookEvents.has(event))) {
    throw new GatewayError('invalid_value', 'webhook_events_filter: each item must be one of "start", "output", "logs", "completed".', { param: 'webhook_events_filter' });
  }
  return [...new Set(value as string[])];
}

/** Replicate `Authorization: Token <key>` (its older docs) is accepted beside Bearer. */
function acceptTokenScheme(request: FastifyRequest): void {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^Token\s+/i.test(header)) request.headers.authorization = `Bearer ${header.replace(/^Token\s+/i, '')}`;
}

/**
 * Replicate's FLUX ratios include 4:5 and 5:4, which the gateway's catalogue does not list: a model
 * sized by a pixel rule gets that ratio as pixels (about 1 MP, Replicate's "megapixels 1"), a model
 * sized by ratios gets its nearest ratio.
 */
function fitRatioToModel(fields: Record<string, unknown>, model: CatalogModel): void {
  const name = fields.aspect_ratio;
  if (typeof name !== 'string' || acceptedAspectRatios(model).includes(name)) return;
  const ratio = parseRatio(name);
  if (ratio === undefined) return;
  if ('rule' in model.sizes) {
    fields.size = formatSize(sizeForRatio(ratio, 1024 * 1024, model.sizes.rule.multiple_of, model.sizes.rule));
    delete fields.aspect_ratio;
    return;
  }
  const accepted = acceptedAspectRatios(model);
  const distance = (candidate: string): number => Math.abs(Math.log((parseRatio(candidate) ?? 1) / ratio));
  fields.aspect_ratio = [...accepted].sort((left, right) => distance(left) - distance(right))[0] ?? name;
}

/** The SDK sends `Content-Type: application/json` with no body on cancel; Replicate accepts that, so this parser does too. */
function acceptEmptyJson(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    if (text === '') {
      done(null, undefined);
      return;
    }
    try {
      const value: unknown = JSON.parse(text as string);
      // The same nesting bound as every other JSON body (src/http/json-body.ts).
      if (exceedsDepth(value, maxJsonDepth)) done(new GatewayError('invalid_json', `The JSON body is nested more than ${maxJsonDepth} levels deep.`), undefined);
      else done(null, value);
    } catch {
      done(new GatewayError('invalid_json', 'We could not parse the JSON body of your request. Send valid JSON with Content-Type: application/json.'), undefined);
    }
  });
}

export async function replicateRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  acceptEmptyJson(app);
  deps.dialectRenderers?.register(replicateDialect, (task, renderer, dialect) => renderPrediction(task, renderer, String(dialect.data.api_base ?? ''), dialect.data));

  // Replicate answers errors as problem details `{title, detail, status}`; input validation is a 422
  // with `invalid_fields: [{type, field, description}]`.
  setDialectErrorHandler(app, (error) => {
    const status = error.status === 400 ? 422 : error.status;
    if (error instanceof ReplicateProblem) return { status, body: { title: error.title, detail: error.message, status, ...error.toBody() } };
    const body: Record<string, unknown> = { title: status === 422 ? 'Input validation failed' : error.code, detail: error.message, status, ...error.toBody() };
    if (status === 422) body.invalid_fields = [{ type: error.code, field: error.param ?? 'input', description: error.message }];
    return { status, body };
  });
  app.addHook('onRequest', async (request) => acceptTokenScheme(request));

  const apiBaseOf = (request: FastifyRequest): string => publicBase(request, deps) + prefix;

  const render = (request: FastifyRequest, task: TaskRecord): Promise<Record<string, unknown>> => {
    const dialect = dialectOf(task);
    return renderPrediction(task, resultRendererFor(request, deps), apiBaseOf(request), dialect?.name === replicateDialect ? dialect.data : undefined);
  };

  /** Waits for the task to end, up to `seconds` or until the client leaves; answers its latest state. */
  const waitFor = async (task: TaskRecord, seconds: number, request: FastifyRequest, reply: FastifyReply): Promise<TaskRecord> => {
    const deadline = Date.now() + seconds * 1000;
    let latest = task;
    let gone = false;
    reply.raw.once('close', () => {
      gone = true;
    });
    while (!finished.has(latest.status) && Date.now() < deadline && !gone) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(waitPollMs, Math.max(1, deadline - Date.now()))));
      latest = (await deps.tasks.get(task.id, task.keyId)) ?? latest;
    }
    return latest;
  };

  const create = async (request: FastifyRequest, reply: FastifyReply, model: string, version: string | null): Promise<FastifyReply> => {
    request.imagegate.endpoint = 'replicate.predictions.create';
    const body = request.body as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
    const wait = preferWaitSeconds(request.headers.prefer);
    const schema = replicateModel(model, (id) => deps.catalog.get(id) !== undefined);
    if (schema === undefined) throw new GatewayError('model_not_found', `The requested resource could not be found: model ${model} is not served by this gateway.`, { param: 'model' });
    const input = body.input;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new GatewayError('missing_required_parameter', 'input: input is required and must be an object.', { param: 'input' });
    const translation = translateReplicateInput(schema, input as Record<string, unknown>);
    const catalogModel = deps.catalog.get(schema.catalogId)?.model;
    if (catalogModel !== undefined) fitRatioToModel(translation.fields, catalogModel);

    const filter = webhookFilter(body.webhook_events_filter);
    const data: ReplicateDialectData & { api_base: string } = { model, version, input: input as Record<string, unknown>, listOutput: schema.listOutput, api_base: apiBaseOf(request) };
    let callback;
    if (body.webhook !== undefined && body.webhook !== null) {
      const url = await checkCallbackUrl(body.webhook, 'webhook', deps.userUrls);
      data.webhook = url;
      if (filter !== undefined) data.webhook_events_filter = filter;
      // One delivery, when the prediction ends: sent for the default filter, "completed" and "output"
      // (an image model's output arrives with its completion). "start" and "logs" alone send none.
      const delivers = filter === undefined || filter.includes('completed') || filter.includes('output');
      if (delivers) {
        const secret = deps.scopedWebhookSecret?.(`replicate:${keyOf(request).id}`);
        callback = { url, publicBase: publicBase(request, deps), ...(secret === undefined ? {} : { secret }) };
      }
    }
    const { task } = await submitDialectTask(request, reply, deps, {
      fields: translation.fields,
      images: translation.images,
      dialect: { name: replicateDialect, data: data as unknown as Record<string, unknown> },
      ...(callback === undefined ? {} : { callback }),
    });
    const latest = wait === undefined ? task : await waitFor(task, wait, request, reply);
    const prediction = await render(request, latest);
    return reply.code(201).header('location', prediction.urls ? (prediction.urls as { get: string }).get : '').send(prediction);
  };

  app.post<{ Params: { owner: string; name: string } }>(`${prefix}/models/:owner/:name/predictions`, { preHandler: app.authenticate }, async (request, reply) =>
    create(request, reply, `${request.params.owner}/${request.params.name}`, null),
  );

  app.post(`${prefix}/predictions`, { preHandler: app.authenticate }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const { model, version } = parseVersion(body.version);
    return create(request, reply, model, version);
  });

  app.get<{ Params: { id: string } }>(`${prefix}/predictions/:id`, { preHandler: app.authenticate }, async (request) => {
    request.imagegate.endpoint = 'replicate.predictions.get';
    const task = await deps.tasks.get(request.params.id, keyOf(request).id);
    if (task === undefined) throw new GatewayError('not_found', 'The requested resource could not be found.', { param: 'id' });
    request.imagegate.model = task.model;
    return render(request, task);
  });

  app.post<{ Params: { id: string } }>(`${prefix}/predictions/:id/cancel`, { preHandler: app.authenticate }, async (request) => {
    request.imagegate.endpoint = 'replicate.predictions.cancel';
    const outcome = await deps.tasks.cancel(request.params.id, keyOf(request).id);
    if (outcome.kind === 'not_found') throw new GatewayError('not_found', 'The requested resource could not be found.', { param: 'id' });
    // Replicate answers a cancel of a finished prediction with the prediction as it is.
    return render(request, outcome.task);
  });

  app.get<{ Querystring: { cursor?: string } }>(`${prefix}/predictions`, { preHandler: app.authenticate }, async (request) => {
    request.imagegate.endpoint = 'replicate.predictions.list';
    const cursor = request.query.cursor;
    const page = await deps.tasks.list({ keyId: keyOf(request).id, limit: listPageSize + 1, ...(cursor === undefined || cursor === '' ? {} : { after: cursor }) });
    const shown = page.slice(0, listPageSize);
    const results = await Promise.all(shown.map((task) => render(request, task)));
    const last = shown.at(-1);
    // `{next, previous, results}`, newest first, as Replicate pages its lists (the SDK's paginate follows `next`).
    return {
      next: page.length > listPageSize && last !== undefined ? `${apiBaseOf(request)}/predictions?cursor=${encodeURIComponent(last.id)}` : null,
      previous: null,
      results,
    };
  });

  app.get(`${prefix}/webhooks/default/secret`, { preHandler: app.authenticate }, async (request) => {
    request.imagegate.endpoint = 'replicate.webhooks.secret';
    const secret = deps.scopedWebhookSecret?.(`replicate:${keyOf(request).id}`);
    if (secret === undefined) throw new GatewayError('not_found', 'Webhooks are not configured on this gateway.');
    return { key: secret };
  });
}
