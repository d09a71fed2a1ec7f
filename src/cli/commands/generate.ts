// `imagegate generate "prompt"`: submits through the async API of a running gateway, shows the
// task's progress and elapsed time on stderr, writes the images to a folder and prints their paths.

import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { asCommand } from '../admin-client.js';
import { clientConnection, clientOptions, isFinished, type TaskObject } from '../gateway-client.js';
import { CliFailure, gatewayRequest, processIo, type CliIo, type GatewayTarget } from '../gateway-http.js';
import type { CliCommand } from '../main.js';

const usage = `usage: imagegate generate "PROMPT" [options]

  -m, --model MODEL          e.g. gpt-image-1, flux-1.1-pro (the gateway's default when absent)
  -s, --size WxH             e.g. 1024x1024
  -n, --n N                  number of images
  -o, --output DIR           where the images are written (default: the current folder)
      --aspect-ratio W:H     e.g. 16:9
      --quality Q            e.g. low, medium, high, hd
      --format FORMAT        png, jpeg or webp
      --timeout SECONDS      give up waiting after this long (the task goes on; see imagegate tasks)
      --base-url URL         (IMAGEGATE_BASE_URL, default http://127.0.0.1:8080)
      --api-key KEY          (IMAGEGATE_API_KEY)

Writes one file per image and prints their paths, one per line. Ctrl-C cancels the task.
`;

const options = {
  ...clientOptions,
  model: { type: 'string', short: 'm' },
  size: { type: 'string', short: 's' },
  n: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  'aspect-ratio': { type: 'string' },
  quality: { type: 'string' },
  format: { type: 'string' },
  timeout: { type: 'string' },
  'poll-ms': { type: 'string' },
} as const;

const spinnerFrames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new CliFailure(`--${flag} takes a positive whole number, got '${value}'`, 2);
  return Number(value);
}

/** The file type from the bytes themselves (a url result carries no format field for every model). */
function extensionOf(data: Buffer, declared: string | undefined): string {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (data[0] === 0xff && data[1] === 0xd8) return 'jpg';
  if (data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp';
  return declared === 'jpeg' ? 'jpg' : (declared ?? 'png');
}

/** One line on stderr: a redrawn spinner on a terminal, a plain line per change otherwise (logs, CI). */
function progressReporter(io: CliIo) {
  const interactive = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let frame = 0;
  let last = '';
  return {
    update(task: TaskObject, elapsedMs: number) {
      const seconds = (elapsedMs / 1000).toFixed(1);
      const state = task.status === 'in_progress' ? `${task.progress}%` : task.status.replace('_', ' ');
      if (interactive) {
        const bar = '█'.repeat(Math.round(task.progress / 5)).padEnd(20, '░');
        io.stderr.write(`\r${spinnerFrames[frame++ % spinnerFrames.length]} ${task.id} ${bar} ${state.padEnd(12)} ${seconds}s`);
        return;
      }
      const line = `${task.id} ${state}`;
      if (line !== last) io.stderr.write(`${line} (${seconds}s)\n`);
      last = line;
    },
    done() {
      if (interactive) io.stderr.write('\n');
    },
  };
}

async function imageBytes(io: CliIo, item: { url?: string; b64_json?: string }): Promise<Buffer> {
  if (item.b64_json !== undefined) return Buffer.from(item.b64_json, 'base64');
  if (item.url === undefined) throw new CliFailure('the result has an image with neither b64_json nor url');
  const response = await io.fetch(item.url);
  if (!response.ok) throw new CliFailure(`downloading ${item.url} failed (HTTP ${response.status})`);
  return Buffer.from(await response.arrayBuffer());
}

export async function runGenerate(argv: string[], io: CliIo, signals: { onInterrupt(handler: () => void): () => void } = processSignals): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const prompt = positionals.join(' ').trim();
  if (prompt === '') throw new CliFailure(`a prompt is needed\n${usage}`, 2);
  const target: GatewayTarget = clientConnection(values, io.env);
  const n = positiveInteger(values.n, 'n');
  const timeoutSeconds = positiveInteger(values.timeout, 'timeout');
  const pollMs = positiveInteger(values['poll-ms'], 'poll-ms') ?? 1000;
  const body: Record<string, unknown> = { prompt };
  if (values.model !== undefined) body.model = values.model;
  if (values.size !== undefined) body.size = values.size;
  if (n !== undefined) body.n = n;
  if (values['aspect-ratio'] !== undefined) body.aspect_ratio = values['aspect-ratio'];
  if (values.quality !== undefined) body.quality = values.quality;
  if (values.format !== undefined) body.output_format = values.format;

  const started = Date.now();
  let task = (await gatewayRequest(io, target, 'POST', '/v1/images/generations?async=true', body)) as TaskObject;
  const progress = progressReporter(io);
  let interrupted = false;
  const stopListening = signals.onInterrupt(() => {
    interrupted = true;
  });
  try {
    while (!isFinished(task)) {
      progress.update(task, Date.now() - started);
      if (interrupted) {
        progress.done();
        await gatewayRequest(io, target, 'POST', `/v1/images/tasks/${task.id}/cancel`).catch(() => undefined);
        io.stderr.write(`imagegate: canceled task ${task.id}\n`);
        return 130;
      }
      if (timeoutSeconds !== undefined && Date.now() - started > timeoutSeconds * 1000) {
        progress.done();
        throw new CliFailure(`task ${task.id} is still ${task.status.replace('_', ' ')} after ${timeoutSeconds}s; check it later with: imagegate tasks get ${task.id}`);
      }
      await new Promise((wake) => setTimeout(wake, Math.min(pollMs, 250 + (Date.now() - started) / 10)));
      task = (await gatewayRequest(io, target, 'GET', `/v1/images/tasks/${task.id}`)) as TaskObject;
    }
  } finally {
    stopListening();
  }
  progress.update(task, Date.now() - started);
  progress.done();
  if (task.status === 'failed') throw new CliFailure(`${task.error?.message ?? 'the task failed'}${task.error?.code ? ` (${task.error.code})` : ''}`);
  if (task.status === 'canceled') throw new CliFailure(`task ${task.id} was canceled`);

  const folder = resolve(values.output ?? '.');
  await mkdir(folder, { recursive: true });
  const images = task.result?.data ?? [];
  for (const [index, item] of images.entries()) {
    const data = await imageBytes(io, item);
    const path = join(folder, `${task.id}-${index + 1}.${extensionOf(data, task.result?.output_format)}`);
    await writeFile(path, data);
    io.stdout.write(`${path}\n`);
  }
  return 0;
}

const processSignals = {
  onInterrupt(handler: () => void): () => void {
    process.on('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
};

export const generateCommand: CliCommand = asCommand('generate images through a running gateway (async API, with progress)', processIo, (argv, io) => runGenerate(argv, io));
