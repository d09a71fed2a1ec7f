// A local fake of ComfyUI's HTTP and WebSocket API: `POST /prompt` with an API-format workflow, the
// history, `/view`, `/upload/image`, the queue, `/interrupt`, and progress over `/ws`.
//
// Its rules come from ComfyUI's source (comfyanonymous/ComfyUI):
// - server.py post_prompt: a body without `prompt` → 400 `{"error": {"type": "no_prompt", "message": "No prompt
//   provided", "details": "No prompt provided", "extra_info": {}}, "node_errors": {}}`; an accepted prompt →
//   `{"prompt_id", "number", "node_errors": {}}`; `client_id` routes the websocket events of that prompt.
// - execution.py validate_prompt: a node whose class_type does not exist → `invalid_prompt` ("Cannot execute
//   because node X does not exist."); no output node → `prompt_no_outputs`; a missing required input →
//   node_errors `required_input_missing`; a value outside a node's list (an unknown checkpoint, an image that
//   was never uploaded) → `value_not_in_list`; all as 400 with `prompt_outputs_failed_validation`.
// - get_history(prompt_id) → `{}` until the prompt has run, then `{id: {prompt, outputs: {node: {images: [{filename,
//   subfolder, type}]}}, status: {status_str, completed, messages}}}`; a failure is `status_str: "error"` with an
//   `["execution_error", {node_type, exception_message, …}]` message.
// - websocket `/ws?clientId=`: `status`, then per prompt `execution_start`, `progress {value, max, prompt_id, node}`,
//   `executed`, `execution_success`, `executing {node: null}` (the legacy "done").
// - `/upload/image` (multipart `image`, `type`, `subfolder`, `overwrite`) → `{name, subfolder, type}`; `/view`
//   serves saved files by `filename`, `subfolder` and `type`; `POST /queue {"delete": [ids]}` drops pending
//   prompts; `POST /interrupt` stops the running one.
// ComfyUI has no moderation and no rate limiting: `failStatus` makes the run fail with an execution error (a
// prompt accepted and then failing is how a ComfyUI job goes wrong); `malformed` cuts the history JSON;
// `pollsBeforeReady` counts history reads answered `{}` before the prompt finishes.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';
import { delay, isRecord, makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export interface ComfyFakeOptions {
  port?: number;
  /** Checkpoints CheckpointLoaderSimple accepts. */
  checkpoints?: string[];
  switches?: FakeSwitches;
}

/** One prompt the fake accepted. */
export interface ComfyPrompt {
  promptId: string;
  clientId: string | undefined;
  workflow: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  state: 'pending' | 'running' | 'done' | 'deleted' | 'interrupted';
}

export interface ComfyFake extends FakeServer {
  switches: FakeSwitches;
  prompts: ComfyPrompt[];
  /** Files uploaded through /upload/image, by the name LoadImage uses (`subfolder/name`). */
  uploads: Map<string, { width: number; height: number; hasAlpha: boolean }>;
  /** `POST /interrupt` calls received. */
  readonly interrupts: number;
}

export const comfyFakeDefaultCheckpoints = ['sd_xl_base_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors'];

/** Required inputs of the node types the fake knows (from each node's INPUT_TYPES in ComfyUI's nodes.py). */
const nodeTypes: Record<string, { required: string[]; output?: true }> = {
  CheckpointLoaderSimple: { required: ['ckpt_name'] },
  CLIPTextEncode: { required: ['text', 'clip'] },
  EmptyLatentImage: { required: ['width', 'height', 'batch_size'] },
  KSampler: { required: ['model', 'seed', 'steps', 'cfg', 'sampler_name', 'scheduler', 'positive', 'negative', 'latent_image', 'denoise'] },
  VAEDecode: { required: ['samples', 'vae'] },
  VAEEncode: { required: ['pixels', 'vae'] },
  LoadImage: { required: ['image'] },
  LoadImageMask: { required: ['image', 'channel'] },
  ImageScale: { required: ['image', 'upscale_method', 'width', 'height', 'crop'] },
  RepeatLatentBatch: { required: ['samples', 'amount'] },
  SetLatentNoiseMask: { required: ['samples', 'mask'] },
  SaveImage: { required: ['images', 'filename_prefix'], output: true },
  PreviewImage: { required: ['images'], output: true },
};

export async function startComfyFake(options: ComfyFakeOptions = {}): Promise<ComfyFake> {
  const switches: FakeSwitches = options.switches ?? {};
  const checkpoints = options.checkpoints ?? comfyFakeDefaultCheckpoints;
  const prompts: ComfyPrompt[] = [];
  const uploads = new Map<string, { width: number; height: number; hasAlpha: boolean }>();
  const history = new Map<string, unknown>();
  const files = new Map<string, Buffer>();
  const historyReads = new Map<string, number>();
  const sockets = new Map<string, WebSocket>();
  let counter = 0;
  let number = 0;
  let interrupts = 0;
  const wss = new WebSocketServer({ noServer: true });

  function emit(clientId: string | undefined, type: string, data: Record<string, unknown>): void {
    const socket = clientId === undefined ? undefined : sockets.get(clientId);
    if (socket?.readyState === 1) socket.send(JSON.stringify({ type, data }));
  }

  function validationError(error: { type: string; message: string; details: string }, nodeErrors: Record<string, unknown> = {}): unknown {
    return { error: { ...error, extra_info: {} }, node_errors: nodeErrors };
  }

  /** execution.py validate_prompt, for the node types above. */
  function validate(workflow: Record<string, unknown>): unknown {
    const nodeErrors: Record<string, unknown> = {};
    let outputs = 0;
    for (const [id, node] of Object.entries(workflow)) {
      if (!isRecord(node) || typeof node['class_type'] !== 'string' || !isRecord(node['inputs'])) {
        return validationError({ type: 'invalid_prompt', message: 'Cannot execute because a node is missing the class_type property.', details: `Node ID '#${id}'` });
      }
      const type = nodeTypes[node['class_type']];
      if (type === undefined) {
        return validationError({ type: 'invalid_prompt', message: `Cannot execute because node ${node['class_type']} does not exist.`, details: `Node ID '#${id}'` });
      }
      if (type.output) outputs += 1;
      const inputs = node['inputs'];
      const errors: unknown[] = [];
      for (const name of type.required) {
        if (inputs[name] === undefined) errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } });
      }
      if (node['class_type'] === 'CheckpointLoaderSimple' && typeof inputs['ckpt_name'] === 'string' && !checkpoints.includes(inputs['ckpt_name'])) {
        errors.push({ type: 'value_not_in_list', message: 'Value not in list', details: `ckpt_name: '${inputs['ckpt_name']}' not in ${JSON.stringify(checkpoints)}`, extra_info: { input_name: 'ckpt_name' } });
      }
      if ((node['class_type'] === 'LoadImage' || node['class_type'] === 'LoadImageMask') && typeof inputs['image'] === 'string' && !uploads.has(inputs['image'])) {
        errors.push({ type: 'custom_validation_failed', message: 'Failed to validate prompt for output', details: `Invalid image file: ${inputs['image']}`, extra_info: { input_name: 'image' } });
      }
      for (const name of ['width', 'height', 'batch_size', 'steps', 'seed', 'amount']) {
        if (inputs[name] !== undefined && !Array.isArray(inputs[name]) && typeof inputs[name] !== 'number') {
          errors.push({ type: 'invalid_input_type', message: 'Failed to convert an input value to a INT value', details: `${name}, ${String(inputs[name])}`, extra_info: { input_name: name } });
        }
      }
      if (errors.length > 0) nodeErrors[id] = { errors, dependent_outputs: [], class_type: node['class_type'] };
    }
    if (outputs === 0) return validationError({ type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '' });
    if (Object.keys(nodeErrors).length > 0) {
      return validationError({ type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '' }, nodeErrors);
    }
    return undefined;
  }

  /** Follows a link `[nodeId, output]` back to the node it comes from. */
  function source(workflow: ComfyPrompt['workflow'], link: unknown): { class_type: string; inputs: Record<string, unknown> } | undefined {
    return Array.isArray(link) && typeof link[0] === 'string' ? workflow[link[0]] : undefined;
  }

  /** The size and count of what a SaveImage node saves: traced through the graph to its latent. */
  function renderPlan(workflow: ComfyPrompt['workflow'], saveNode: { inputs: Record<string, unknown> }): { width: number; height: number; count: number } {
    let width = 512;
    let height = 512;
    let count = 1;
    const seen = new Set<unknown>();
    const walk = (node: { class_type: string; inputs: Record<string, unknown> } | undefined): void => {
      if (node === undefined || seen.has(node)) return;
      seen.add(node);
      if (node.class_type === 'EmptyLatentImage') {
        width = Math.floor(Number(node.inputs['width']) / 8) * 8;
        height = Math.floor(Number(node.inputs['height']) / 8) * 8;
        count = Number(node.inputs['batch_size']);
        return;
      }
      if (node.class_type === 'ImageScale') {
        width = Number(node.inputs['width']);
        height = Number(node.inputs['height']);
        return;
      }
      if (node.class_type === 'LoadImage') {
        const upload = uploads.get(String(node.inputs['image']));
        if (upload !== undefined) ({ width, height } = upload);
        return;
      }
      if (node.class_type === 'RepeatLatentBatch') count = Number(node.inputs['amount']);
      for (const value of Object.values(node.inputs)) walk(source(workflow, value));
    };
    walk(source(workflow, saveNode.inputs['images']));
    return { width, height, count: Math.min(count, switches.maxImages ?? Number.POSITIVE_INFINITY) };
  }

  /** The state as it is now: a client's /interrupt changes it while a prompt runs. */
  const stateOf = (prompt: ComfyPrompt): ComfyPrompt['state'] => prompt.state;

  async function execute(prompt: ComfyPrompt): Promise<void> {
    if (switches.hang) return;
    prompt.state = 'running';
    const started = Date.now();
    emit(prompt.clientId, 'execution_start', { prompt_id: prompt.promptId, timestamp: started });
    const steps = 4;
    for (let value = 1; value <= steps; value += 1) {
      await delay(Math.max(5, (switches.latencyMs ?? 0) / steps));
      if (stateOf(prompt) === 'interrupted') break;
      emit(prompt.clientId, 'progress', { value, max: steps, prompt_id: prompt.promptId, node: '3' });
    }
    const messages: unknown[] = [['execution_start', { prompt_id: prompt.promptId, timestamp: started }]];
    const entry = { prompt: [prompt.promptId, prompt.workflow], outputs: {} as Record<string, unknown>, status: { status_str: 'success', completed: true, messages }, meta: {} };
    if (stateOf(prompt) === 'interrupted' || switches.failStatus) {
      const failure = stateOf(prompt) === 'interrupted'
        ? ['execution_interrupted', { prompt_id: prompt.promptId, node_id: '3', node_type: 'KSampler', executed: [] }]
        : ['execution_error', { prompt_id: prompt.promptId, node_id: '3', node_type: 'KSampler', executed: ['4'], exception_message: 'CUDA out of memory. Tried to allocate 2.00 GiB', exception_type: 'torch.OutOfMemoryError', traceback: [] }];
      messages.push(failure);
      entry.status = { status_str: 'error', completed: false, messages };
      emit(prompt.clientId, String(failure[0]), failure[1] as Record<string, unknown>);
    } else {
      for (const [id, node] of Object.entries(prompt.workflow)) {
        if (node.class_type !== 'SaveImage') continue;
        const plan = renderPlan(prompt.workflow, node);
        const images = [];
        for (let index = 0; index < plan.count; index += 1) {
          counter += 1;
          const filename = `${String(node.inputs['filename_prefix'])}_${String(counter).padStart(5, '0')}_.png`;
          files.set(`output//${filename}`, await makeTestImage(plan.width, plan.height, 'png', counter));
          images.push({ filename, subfolder: '', type: 'output' });
        }
        entry.outputs[id] = { images };
        emit(prompt.clientId, 'executed', { node: id, display_node: id, output: { images }, prompt_id: prompt.promptId });
      }
      messages.push(['execution_success', { prompt_id: prompt.promptId, timestamp: Date.now() }]);
      emit(prompt.clientId, 'execution_success', { prompt_id: prompt.promptId, timestamp: Date.now() });
    }
    emit(prompt.clientId, 'executing', { node: null, prompt_id: prompt.promptId });
    prompt.state = stateOf(prompt) === 'interrupted' ? 'interrupted' : 'done';
    history.set(prompt.promptId, entry);
  }

  async function upload(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const contentType = String(request.headers['content-type'] ?? '');
    let form: FormData;
    try {
      form = await new Response(request.body, { headers: { 'content-type': contentType } }).formData();
    } catch {
      return void sendBytes(response, 400, Buffer.from(''), 'text/plain');
    }
    const file = form.get('image');
    // server.py image_upload: no `image` part → 400 with an empty body.
    if (!(file instanceof Blob)) return void sendBytes(response, 400, Buffer.from(''), 'text/plain');
    const bytes = Buffer.from(await file.arrayBuffer());
    const metadata = await sharp(bytes).metadata().catch(() => undefined);
    const name = (file as File).name || `upload-${randomUUID()}.png`;
    const subfolder = String(form.get('subfolder') ?? '');
    const type = String(form.get('type') ?? 'input');
    uploads.set(subfolder === '' ? name : `${subfolder}/${name}`, { width: metadata?.width ?? 0, height: metadata?.height ?? 0, hasAlpha: metadata?.hasAlpha ?? false });
    files.set(`${type}/${subfolder}/${name}`, bytes);
    sendJson(response, 200, { name, subfolder, type });
  }

  const server = await startFakeServer(
    async (request, response) => {
      const url = new URL(request.path, 'http://fake');
      const path = url.pathname.replace(/^\/api(?=\/)/, ''); // every route is also served under /api
      if (request.method === 'POST' && path === '/prompt') {
        if (!isRecord(request.json) || !isRecord(request.json['prompt'])) {
          return sendJson(response, 400, validationError({ type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided' }));
        }
        const invalid = validate(request.json['prompt']);
        if (invalid !== undefined) return sendJson(response, 400, invalid);
        const clientId = typeof request.json['client_id'] === 'string' ? request.json['client_id'] : undefined;
        const prompt: ComfyPrompt = { promptId: randomUUID(), clientId, workflow: request.json['prompt'] as ComfyPrompt['workflow'], state: 'pending' };
        prompts.push(prompt);
        number += 1;
        sendJson(response, 200, { prompt_id: prompt.promptId, number, node_errors: {} });
        void execute(prompt);
        return;
      }
      const historyMatch = /^\/history\/([^/]+)$/.exec(path);
      if (request.method === 'GET' && historyMatch !== null) {
        const id = decodeURIComponent(historyMatch[1] ?? '');
        const reads = (historyReads.get(id) ?? 0) + 1;
        historyReads.set(id, reads);
        const entry = history.get(id);
        if (entry === undefined || reads <= (switches.pollsBeforeReady ?? 0)) return sendJson(response, 200, {});
        if (switches.malformed) {
          response.writeHead(200, { 'content-type': 'application/json' });
          return void response.end(`{"${id}": {"outputs": {"9": {"ima`);
        }
        return sendJson(response, 200, { [id]: entry });
      }
      if (request.method === 'GET' && path === '/view') {
        const key = `${url.searchParams.get('type') ?? 'output'}/${url.searchParams.get('subfolder') ?? ''}/${url.searchParams.get('filename') ?? ''}`;
        const bytes = files.get(key);
        return bytes === undefined ? sendBytes(response, 404, Buffer.from(''), 'text/plain') : sendBytes(response, 200, bytes, 'image/png');
      }
      if (request.method === 'POST' && path === '/upload/image') return upload(request, response);
      if (path === '/queue') {
        if (request.method === 'POST' && isRecord(request.json) && Array.isArray(request.json['delete'])) {
          for (const id of request.json['delete']) {
            const prompt = prompts.find((candidate) => candidate.promptId === id && candidate.state === 'pending');
            if (prompt !== undefined) prompt.state = 'deleted';
          }
          return sendBytes(response, 200, Buffer.from(''), 'text/plain');
        }
        const running = prompts.filter((prompt) => prompt.state === 'running').map((prompt, index) => [index, prompt.promptId, prompt.workflow, {}, []]);
        const pending = prompts.filter((prompt) => prompt.state === 'pending').map((prompt, index) => [index, prompt.promptId, prompt.workflow, {}, []]);
        return sendJson(response, 200, { queue_running: running, queue_pending: pending });
      }
      if (request.method === 'POST' && path === '/interrupt') {
        interrupts += 1;
        for (const prompt of prompts) if (prompt.state === 'running') prompt.state = 'interrupted';
        return sendBytes(response, 200, Buffer.from(''), 'text/plain');
      }
      sendBytes(response, 404, Buffer.from('404: Not Found'), 'text/plain');
    },
    options.port,
    (http) => {
      http.on('upgrade', (request, socket, head) => {
        const url = new URL(request.url ?? '/', 'http://fake');
        if (url.pathname.replace(/^\/api(?=\/)/, '') !== '/ws') return void socket.destroy();
        wss.handleUpgrade(request, socket, head, (client) => {
          const clientId = url.searchParams.get('clientId') ?? randomUUID();
          sockets.set(clientId, client);
          client.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: clientId } }));
          client.on('close', () => sockets.delete(clientId));
        });
      });
    },
  );

  return {
    url: server.url,
    requests: server.requests,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await server.close();
    },
    switches,
    prompts,
    uploads,
    get interrupts() {
      return interrupts;
    },
  };
}

/** `npm run fake -- comfyui [--port N]`. */
export function fakeMain(argv: { port: number; switches: FakeSwitches }): Promise<ComfyFake> {
  return startComfyFake({ port: argv.port, switches: argv.switches });
}
