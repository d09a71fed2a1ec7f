// A local fake of the AUTOMATIC1111 stable-diffusion-webui API (and Forge, which serves the same
// `/sdapi/v1/*` surface): txt2img, img2img, per-task progress, checkpoints and options.
//
// Its rules come from the webui's own source (AUTOMATIC1111/stable-diffusion-webui, commit 008a8e75):
// - modules/api/models.py: the request models are pydantic models generated from the processing classes
//   plus API extras (`send_images` default true, `save_images` default false, `override_settings`,
//   `force_task_id`, `init_images`, `mask`, `denoising_strength` default 0.75); pydantic ignores unknown
//   fields and answers 422 `{"detail":[{"loc":["body",field],"msg","type"}]}` for a wrong type;
//   `TextToImageResponse` / `ImageToImageResponse` are `{images: [base64…], parameters: {…}, info: "<json text>"}`.
// - modules/api/api.py: exceptions become `{"error": <exception class>, "detail", "body", "errors": <message>}`
//   (status 500 unless an HTTPException says otherwise); `--api-auth` is HTTP Basic and a wrong pair
//   answers 401 `{"detail": "Incorrect username or password"}` with `WWW-Authenticate: Basic`.
// - modules/processing.py: one job renders `batch_size × n_iter` images; with more than one, the grid
//   comes first in `images` while the `return_grid` option is on (its default); the latent is 1/8 of the
//   size, so width and height come out floored to multiples of 8; seed -1 means a random one, and image
//   i of a batch uses seed + i (`all_seeds` in info).
// - modules/progress.py: `POST /internal/progress {id_task}` → `{active, queued, completed, progress, eta,
//   live_preview, id_live_preview, textinfo}` for the task named by `force_task_id`.
// The webui has no content moderation and no rate limiting of its own: the `moderation` switch and a
// `retryAfterSeconds` do not apply; `failStatus` answers with the exception body above.

import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { delay, isRecord, makeTestImage, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export interface A1111FakeOptions {
  port?: number;
  /** `user:pass` as the webui's `--api-auth`; absent = no auth, as the webui runs by default. */
  apiAuth?: string;
  /** Checkpoint titles `GET /sdapi/v1/sd-models` lists and `sd_model_checkpoint` accepts. */
  checkpoints?: string[];
  switches?: FakeSwitches;
}

/** One txt2img / img2img job the fake ran. */
export interface A1111Job {
  path: '/sdapi/v1/txt2img' | '/sdapi/v1/img2img';
  body: Record<string, unknown>;
  /** img2img: the decoded size of each init image and of the mask. */
  initImages: { width: number; height: number }[];
  mask?: { width: number; height: number; format: string };
}

export interface A1111Fake extends FakeServer {
  switches: FakeSwitches;
  jobs: A1111Job[];
  /** The checkpoint loaded now (`sd_model_checkpoint`), as `POST /sdapi/v1/options` or an override left it. */
  readonly currentCheckpoint: string;
}

export const a1111FakeDefaultCheckpoints = ['sd_xl_base_1.0.safetensors [31e35c80fc]', 'v1-5-pruned-emaonly.safetensors [6ce0161689]'];

/** Fields whose pydantic type is int / float / bool / str in the generated request models. */
const intFields = ['steps', 'width', 'height', 'batch_size', 'n_iter', 'seed', 'subseed'] as const;
const floatFields = ['cfg_scale', 'denoising_strength'] as const;
const boolFields = ['send_images', 'save_images', 'override_settings_restore_afterwards'] as const;
const stringFields = ['prompt', 'negative_prompt', 'sampler_name', 'scheduler', 'force_task_id'] as const;

export async function startA1111Fake(options: A1111FakeOptions = {}): Promise<A1111Fake> {
  const switches: FakeSwitches = options.switches ?? {};
  const checkpoints = options.checkpoints ?? a1111FakeDefaultCheckpoints;
  let currentCheckpoint = checkpoints[0] ?? '';
  const jobs: A1111Job[] = [];
  /** force_task_id → progress, for /internal/progress. */
  const tasks = new Map<string, { progress: number; completed: boolean }>();
  let seedCounter = 1000;

  function authorised(request: RecordedRequest, response: ServerResponse): boolean {
    if (options.apiAuth === undefined) return true;
    const header = String(request.headers['authorization'] ?? '');
    const expected = `Basic ${Buffer.from(options.apiAuth).toString('base64')}`;
    if (header === expected) return true;
    sendJson(response, 401, { detail: 'Incorrect username or password' }, { 'www-authenticate': 'Basic' });
    return false;
  }

  /** pydantic's 422 for the first field of the wrong type, or undefined when the body validates. */
  function validationError(body: Record<string, unknown>): unknown {
    const wrong = (field: string, type: string, msg: string) => ({ detail: [{ loc: ['body', field], msg, type }] });
    for (const field of intFields) {
      const value = body[field];
      if (value !== undefined && value !== null && !(typeof value === 'number' && Number.isInteger(value)) && !(typeof value === 'string' && /^-?\d+$/.test(value))) {
        return wrong(field, 'int_parsing', 'Input should be a valid integer');
      }
    }
    for (const field of floatFields) {
      const value = body[field];
      if (value !== undefined && value !== null && typeof value !== 'number') return wrong(field, 'float_parsing', 'Input should be a valid number');
    }
    for (const field of boolFields) {
      const value = body[field];
      if (value !== undefined && value !== null && typeof value !== 'boolean') return wrong(field, 'bool_parsing', 'Input should be a valid boolean');
    }
    for (const field of stringFields) {
      const value = body[field];
      if (value !== undefined && value !== null && typeof value !== 'string') return wrong(field, 'string_type', 'Input should be a valid string');
    }
    if (body['override_settings'] !== undefined && body['override_settings'] !== null && !isRecord(body['override_settings'])) {
      return wrong('override_settings', 'dict_type', 'Input should be a valid dictionary');
    }
    if (body['init_images'] !== undefined && body['init_images'] !== null && !Array.isArray(body['init_images'])) {
      return wrong('init_images', 'list_type', 'Input should be a valid list');
    }
    return undefined;
  }

  /** The webui's exception body (api.py handle_exception). */
  function exception(response: ServerResponse, status: number, name: string, message: string): void {
    sendJson(response, status, { error: name, detail: '', body: '', errors: message });
  }

  async function decodeImage(text: unknown): Promise<{ width: number; height: number; format: string } | undefined> {
    if (typeof text !== 'string') return undefined;
    // api.py decode_base64_to_image: a `data:image/…;base64,` prefix is stripped when present.
    const payload = text.startsWith('data:') ? text.slice(text.indexOf(',') + 1) : text;
    try {
      const metadata = await sharp(Buffer.from(payload, 'base64')).metadata();
      if (metadata.width === undefined || metadata.height === undefined || metadata.format === undefined) return undefined;
      return { width: metadata.width, height: metadata.height, format: metadata.format };
    } catch {
      return undefined;
    }
  }

  async function runJob(request: RecordedRequest, response: ServerResponse, path: A1111Job['path']): Promise<void> {
    if (!isRecord(request.json)) {
      sendJson(response, 422, { detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', type: 'model_attributes_type' }] });
      return;
    }
    const body = request.json;
    const invalid = validationError(body);
    if (invalid !== undefined) {
      sendJson(response, 422, invalid);
      return;
    }
    const job: A1111Job = { path, body, initImages: [] };
    if (path === '/sdapi/v1/img2img') {
      const inits = (body['init_images'] as unknown[] | undefined | null) ?? [];
      for (const init of inits) {
        const decoded = await decodeImage(init);
        // decode_base64_to_image raises HTTPException(500, "Invalid encoded image") on bad data.
        if (decoded === undefined) return exception(response, 500, 'HTTPException', 'Invalid encoded image');
        job.initImages.push(decoded);
      }
      // StableDiffusionProcessingImg2Img.init() indexes init_images[0]: none is an IndexError → 500.
      if (job.initImages.length === 0) return exception(response, 500, 'TypeError', "'NoneType' object is not iterable");
      if (body['mask'] !== undefined && body['mask'] !== null) {
        const mask = await decodeImage(body['mask']);
        if (mask === undefined) return exception(response, 500, 'HTTPException', 'Invalid encoded image');
        job.mask = mask;
      }
    }
    jobs.push(job);

    if (switches.latencyMs) await delay(switches.latencyMs);
    if (switches.hang) return; // never answers; the client must give up
    if (switches.failStatus) return exception(response, switches.failStatus, 'RuntimeError', 'CUDA out of memory. Tried to allocate 2.00 GiB');

    const overrides = isRecord(body['override_settings']) ? body['override_settings'] : {};
    const wantedCheckpoint = overrides['sd_model_checkpoint'];
    if (wantedCheckpoint !== undefined) {
      const found = checkpoints.find((title) => title === wantedCheckpoint || title.split(' [')[0] === wantedCheckpoint || title.replace(/\.(safetensors|ckpt)( \[.*\])?$/, '') === wantedCheckpoint);
      // sd_models.get_closet_checkpoint_match finds nothing → reload_model_weights raises.
      if (found === undefined) return exception(response, 500, 'RuntimeError', `Could not find checkpoint ${String(wantedCheckpoint)}`);
      if (body['override_settings_restore_afterwards'] === false) currentCheckpoint = found;
    }

    const taskId = typeof body['force_task_id'] === 'string' ? body['force_task_id'] : undefined;
    if (taskId !== undefined) tasks.set(taskId, { progress: 0, completed: false });

    // StableDiffusionProcessing defaults width and height to 512 for both endpoints, and one image.
    const width = Math.floor(Number(body['width'] ?? 512) / 8) * 8;
    const height = Math.floor(Number(body['height'] ?? 512) / 8) * 8;
    const batchSize = Number(body['batch_size'] ?? 1);
    const iterations = Number(body['n_iter'] ?? 1);
    const count = Math.min(batchSize * iterations, switches.maxImages ?? Number.POSITIVE_INFINITY);
    const askedSeed = Number(body['seed'] ?? -1);
    const seed = askedSeed === -1 ? seedCounter++ : askedSeed;
    const allSeeds = Array.from({ length: count }, (_, index) => seed + index);

    // Progress advances while the job "renders", so a poller sees it move.
    const steps = 4;
    for (let step = 1; step <= steps; step += 1) {
      if (taskId !== undefined) tasks.set(taskId, { progress: step / (steps + 1), completed: false });
      await delay(5);
    }
    const images: Buffer[] = [];
    for (const index of allSeeds.keys()) images.push(await makeTestImage(width, height, 'png', allSeeds[index] ?? index));
    const returnGrid = overrides['return_grid'] !== false;
    if (count > 1 && returnGrid) images.unshift(await makeTestImage(width * 2, height * Math.ceil(count / 2), 'png', 7));
    if (taskId !== undefined) tasks.set(taskId, { progress: 1, completed: true });

    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"images": ["iVBORw0KGgoAAAANSUhEUg');
      return;
    }
    const sendImages = body['send_images'] !== false;
    const info = {
      prompt: body['prompt'] ?? '',
      all_prompts: allSeeds.map(() => body['prompt'] ?? ''),
      negative_prompt: body['negative_prompt'] ?? '',
      seed,
      all_seeds: allSeeds,
      width,
      height,
      sampler_name: body['sampler_name'] ?? 'Euler',
      steps: body['steps'] ?? 50,
      cfg_scale: body['cfg_scale'] ?? 7,
      sd_model_name: (overrides['sd_model_checkpoint'] as string | undefined) ?? currentCheckpoint,
    };
    const parameters = { ...body };
    delete parameters['init_images'];
    sendJson(response, 200, { images: sendImages ? images.map((image) => image.toString('base64')) : [], parameters, info: JSON.stringify(info) });
  }

  const server = await startFakeServer(async (request, response) => {
    const path = request.path.split('?')[0];
    if (!authorised(request, response)) return;
    if (request.method === 'POST' && (path === '/sdapi/v1/txt2img' || path === '/sdapi/v1/img2img')) return runJob(request, response, path);
    if (request.method === 'POST' && path === '/internal/progress') {
      const id = isRecord(request.json) ? request.json['id_task'] : undefined;
      const task = typeof id === 'string' ? tasks.get(id) : undefined;
      // progress.py: an unknown task is neither active nor queued nor completed.
      sendJson(response, 200, {
        active: task !== undefined && !task.completed,
        queued: false,
        completed: task?.completed ?? false,
        progress: task?.progress ?? null,
        eta: null,
        live_preview: null,
        id_live_preview: -1,
        textinfo: task === undefined ? 'Waiting...' : null,
      });
      return;
    }
    if (request.method === 'GET' && path === '/sdapi/v1/sd-models') {
      sendJson(response, 200, checkpoints.map((title) => ({ title, model_name: title.split('.')[0], hash: title.match(/\[(.*)\]/)?.[1] ?? null, sha256: null, filename: `/models/Stable-diffusion/${title.split(' [')[0]}`, config: null })));
      return;
    }
    if (path === '/sdapi/v1/options') {
      if (request.method === 'GET') return sendJson(response, 200, { sd_model_checkpoint: currentCheckpoint, return_grid: true, samples_format: 'png' });
      if (request.method === 'POST' && isRecord(request.json)) {
        const wanted = request.json['sd_model_checkpoint'];
        if (typeof wanted === 'string') {
          const found = checkpoints.find((title) => title === wanted || title.split(' [')[0] === wanted);
          if (found === undefined) return exception(response, 500, 'RuntimeError', `model '${wanted}' not found`);
          currentCheckpoint = found;
        }
        return sendJson(response, 200, null);
      }
    }
    sendJson(response, 404, { detail: 'Not Found' });
  }, options.port);

  return {
    url: server.url,
    requests: server.requests,
    close: server.close,
    switches,
    jobs,
    get currentCheckpoint() {
      return currentCheckpoint;
    },
  };
}

/** `npm run fake -- a1111 [--port N] [--api-key user:pass]`: the key, when given, is the webui's `--api-auth` pair. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<A1111Fake> {
  return startA1111Fake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiAuth: argv.apiKey }) });
}
