// Channels from the environment end to end: provider keys (and base URLs pointing at the fakes)
// become channels, a channel in the config file wins for its models, and /v1/models says who serves what.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { falFakeDefaultApiKey, startFalFake, type FalFake } from '../../src/testing/fakes/fal.js';
import { googleFakeDefaultApiKey, startGoogleFake, type GoogleFake } from '../../src/testing/fakes/google.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate, imagesOf } from './providers-support.js';

let bfl: BflFake;
let fal: FalFake;
let google: GoogleFake;
let configDir: string;
let gateway: TestGateway;

interface ListedModel {
  id: string;
  imagegate: { provider: string; channel: string };
}

async function listModels(target: TestGateway): Promise<Map<string, ListedModel['imagegate']>> {
  const response = await fetch(`${target.url}/v1/models`, { headers: { authorization: `Bearer ${target.apiKey}` } });
  const body = (await response.json()) as { data: ListedModel[] };
  return new Map(body.data.map((model) => [model.id, { provider: model.imagegate.provider, channel: model.imagegate.channel }]));
}

beforeAll(async () => {
  [bfl, fal, google] = await Promise.all([startBflFake(), startFalFake(), startGoogleFake()]);
  configDir = await mkdtemp(join(tmpdir(), 'imagegate-detection-'));
  const configFile = join(configDir, 'imagegate.yaml');
  // The config file claims flux-dev for fal; BFL, detected from the environment, could serve it too.
  await writeFile(
    configFile,
    [
      'channels:',
      '  - name: my-fal',
      '    provider: fal',
      `    base_url: ${fal.url}`,
      '    api_key: ${MY_FAL_KEY}',
      '    models: [flux-dev]',
      "    model_map: { flux-dev: 'fal-ai/flux/dev' }",
      '    poll_interval_ms: 10',
      '',
    ].join('\n'),
  );
  gateway = await startTestGateway(
    {},
    {
      env: {
        IMAGEGATE_CONFIG: configFile,
        MY_FAL_KEY: falFakeDefaultApiKey,
        BFL_API_KEY: bflFakeApiKey,
        BFL_BASE_URL: bfl.url,
        GEMINI_API_KEY: googleFakeDefaultApiKey,
        GEMINI_BASE_URL: `${google.url}/v1beta`,
      },
    },
  );
});
afterAll(async () => {
  await gateway.close();
  await Promise.all([bfl.close(), fal.close(), google.close()]);
  await rm(configDir, { recursive: true, force: true });
});

describe('channels detected from the environment', () => {
  it('become channels named after their provider, noting the variables (never the keys) they came from', () => {
    expect(gateway.config.detectedChannels).toEqual({ bfl: 'BFL_API_KEY + BFL_BASE_URL', google: 'GEMINI_API_KEY + GEMINI_BASE_URL' });
    expect(JSON.stringify(gateway.config.detectedChannels)).not.toContain(bflFakeApiKey);
    const names = gateway.config.channels.map((channel) => channel.name);
    expect(names).toEqual(['my-fal', 'bfl', 'google']);
    // The configured channel keeps flux-dev; the detected BFL channel leaves it out.
    expect(gateway.config.channels.find((channel) => channel.name === 'bfl')?.models).not.toContain('flux-dev');
  });

  it('route models in /v1/models: detected providers and the configured channel; nothing else is listed', async () => {
    const models = await listModels(gateway);
    expect(models.get('flux-kontext-pro')).toEqual({ provider: 'bfl', channel: 'bfl' });
    expect(models.get('flux-1.1-pro')).toEqual({ provider: 'bfl', channel: 'bfl' });
    expect(models.get('flux-dev')).toEqual({ provider: 'fal', channel: 'my-fal' });
    expect(models.get('gemini-2.5-flash-image')).toEqual({ provider: 'google', channel: 'google' });
    expect(models.get('imagen-4.0-generate-001')).toEqual({ provider: 'google', channel: 'google' });
    // No key for these, and channels exist: the offline engine does not stand in, so they are not offered.
    expect(models.has('gpt-image-1')).toBe(false);
    expect(models.has('flux-schnell')).toBe(false);
    expect(models.has('stable-image-core')).toBe(false);
  });

  it('send requests to the upstream that serves each model', async () => {
    const bflBefore = bfl.submissions;
    const falBefore = fal.submissions;
    const googleBefore = google.counters.generateContent;

    const kontext = await generate(gateway, { model: 'flux-kontext-pro', prompt: 'via bfl', response_format: 'b64_json' });
    expect(kontext.headers.get('x-imagegate-provider')).toBe('bfl');
    expect(await imagesOf(gateway, kontext)).toHaveLength(1);
    const dev = await generate(gateway, { model: 'flux-dev', prompt: 'via fal', response_format: 'b64_json' });
    expect(dev.headers.get('x-imagegate-provider')).toBe('fal');
    expect(await imagesOf(gateway, dev)).toHaveLength(1);
    const gemini = await generate(gateway, { model: 'nano-banana', prompt: 'via google' });
    expect(gemini.headers.get('x-imagegate-provider')).toBe('google');
    expect(await imagesOf(gateway, gemini)).toHaveLength(1);

    expect([bfl.submissions - bflBefore, fal.submissions - falBefore, google.counters.generateContent - googleBefore]).toEqual([1, 1, 1]);
    const unrouted = await generate(gateway, { model: 'gpt-image-1', prompt: 'no channel for me' });
    expect(unrouted.status).toBe(404);
    expect(unrouted.body).toMatchObject({ error: { code: 'model_not_available', param: 'model' } });
  });
});

describe('detection turned off', () => {
  it('leaves every model to the offline engine even with provider keys set', async () => {
    const quiet = await startTestGateway({}, { env: { BFL_API_KEY: bflFakeApiKey, BFL_BASE_URL: bfl.url, IMAGEGATE_DETECT_CHANNELS: 'false' } });
    try {
      expect(quiet.config.channels).toEqual([]);
      const models = await listModels(quiet);
      expect(models.get('flux-kontext-pro')).toEqual({ provider: 'offline', channel: 'offline' });
    } finally {
      await quiet.close();
    }
  });
});
