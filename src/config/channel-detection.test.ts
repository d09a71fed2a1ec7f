// Environment auto-detection of channels: which variables make which channels, and how configured channels win.

import { describe, expect, it } from 'vitest';
import { createCatalog } from '../core/catalog/catalog.js';
import { readCatalogFile } from './catalog-file.js';
import { detectChannels, detectableModels } from './channel-detection.js';
import { ConfigError, loadConfig } from './load.js';
import type { ChannelConfig } from './schema.js';

const fail = (message: string) => new ConfigError(message);
const detect = (env: Record<string, string>, configured: ChannelConfig[] = []) => detectChannels(env, configured, fail);

describe('detectChannels', () => {
  it('names only models of the bundled catalog', () => {
    const catalog = createCatalog(readCatalogFile());
    for (const [provider, models] of Object.entries(detectableModels)) {
      for (const id of Object.keys(models)) expect(catalog.get(id)?.model.id, `${provider} → ${id}`).toBe(id);
    }
  });

  it('finds nothing in an environment without provider keys', () => {
    expect(detect({ PATH: '/usr/bin', HOME: '/root' })).toEqual({ channels: [], detected: {} });
  });

  it('makes one channel per provider key, with upstream names in model_map and the key never in `detected`', () => {
    const { channels, detected } = detect({
      OPENAI_API_KEY: 'sk-openai',
      BFL_API_KEY: 'bfl-key',
      REPLICATE_API_TOKEN: 'r8-token',
      FAL_KEY: 'id:secret',
      GEMINI_API_KEY: 'gemini-key',
      STABILITY_API_KEY: 'sk-stability',
    });
    expect(channels.map((channel) => [channel.name, channel.provider, channel.api_key])).toEqual([
      ['openai', 'openai', 'sk-openai'],
      ['bfl', 'bfl', 'bfl-key'],
      ['fal', 'fal', 'id:secret'],
      ['replicate', 'replicate', 'r8-token'],
      ['google', 'google', 'gemini-key'],
      ['stability', 'stability', 'sk-stability'],
    ]);
    const byName = Object.fromEntries(channels.map((channel) => [channel.name, channel]));
    expect(byName['openai']?.models).toEqual(['gpt-image-2', 'gpt-image-2-2026-04-21', 'chatgpt-image-latest', 'gpt-image-1.5', 'gpt-image-1', 'gpt-image-1-mini', 'dall-e-3', 'dall-e-2']);
    expect(byName['replicate']?.model_map?.['flux-schnell']).toBe('black-forest-labs/flux-schnell');
    expect(byName['fal']?.model_map?.['flux-schnell']).toBe('fal-ai/flux/schnell');
    expect(byName['bfl']?.model_map?.['flux-1.1-pro']).toBe('flux-pro-1.1');
    expect(byName['google']?.models).toContain('imagen-4.0-generate-001');
    expect(byName['stability']?.models).toEqual(['stable-image-ultra', 'stable-image-core', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium']);
    expect(channels.every((channel) => channel.base_url === undefined)).toBe(true);
    expect(detected).toEqual({ openai: 'OPENAI_API_KEY', bfl: 'BFL_API_KEY', fal: 'FAL_KEY', replicate: 'REPLICATE_API_TOKEN', google: 'GEMINI_API_KEY', stability: 'STABILITY_API_KEY' });
  });

  it('makes an openrouter channel from OPENROUTER_API_KEY with OpenRouter\'s Gemini names, as failover after Google', () => {
    const { channels, detected } = detect({ OPENROUTER_API_KEY: 'sk-or-v1-key', OPENROUTER_BASE_URL: 'https://relay.example/api/v1/', GEMINI_API_KEY: 'g' });
    const openrouter = channels.find((channel) => channel.provider === 'openrouter');
    expect(openrouter).toMatchObject({
      name: 'openrouter',
      api_key: 'sk-or-v1-key',
      base_url: 'https://relay.example/api/v1',
      models: ['gemini-2.5-flash-image', 'gemini-3-pro-image-preview'],
      model_map: { 'gemini-2.5-flash-image': 'google/gemini-2.5-flash-image', 'gemini-3-pro-image-preview': 'google/gemini-3-pro-image-preview' },
    });
    const google = channels.find((channel) => channel.provider === 'google');
    expect(openrouter?.priority ?? 0).toBeLessThan(google?.priority ?? 0);
    expect(detected['openrouter']).toBe('OPENROUTER_API_KEY + OPENROUTER_BASE_URL');
  });

  it('makes a dashscope channel from DASHSCOPE_API_KEY, with the SDK\'s DASHSCOPE_HTTP_BASE_URL as its region host', () => {
    const { channels, detected } = detect({ DASHSCOPE_API_KEY: 'sk-dash', DASHSCOPE_HTTP_BASE_URL: 'https://dashscope-intl.aliyuncs.com/api/v1/' });
    expect(channels).toHaveLength(1);
    expect(channels[0]).toMatchObject({ name: 'dashscope', provider: 'dashscope', api_key: 'sk-dash', base_url: 'https://dashscope-intl.aliyuncs.com/api/v1' });
    expect(channels[0]?.models).toEqual(expect.arrayContaining(['qwen-image-plus', 'qwen-image-edit-plus', 'wan2.6-t2i', 'wan2.2-t2i-flash']));
    expect(detected).toEqual({ dashscope: 'DASHSCOPE_API_KEY + DASHSCOPE_HTTP_BASE_URL' });
  });

  it('ranks detected channels below configured ones, one step apart, so each model has one first provider', () => {
    const { channels } = detect({ BFL_API_KEY: 'b', FAL_KEY: 'f', REPLICATE_API_TOKEN: 'r' });
    const priorities = channels.map((channel) => channel.priority ?? 0);
    expect(priorities.every((priority) => priority < 0)).toBe(true);
    expect(new Set(priorities).size).toBe(priorities.length);
    // flux-dev: BFL first, then fal, then Replicate.
    const serving = channels.filter((channel) => channel.models.includes('flux-dev')).sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
    expect(serving.map((channel) => channel.name)).toEqual(['bfl', 'fal', 'replicate']);
  });

  it('takes base URLs from the environment, trimmed of trailing slashes, and rejects ones that are not http(s)', () => {
    const { channels, detected } = detect({ BFL_API_KEY: 'b', BFL_BASE_URL: 'http://127.0.0.1:9101/' });
    expect(channels[0]?.base_url).toBe('http://127.0.0.1:9101');
    expect(detected['bfl']).toBe('BFL_API_KEY + BFL_BASE_URL');
    expect(() => detect({ STABILITY_API_KEY: 's', STABILITY_BASE_URL: 'api.stability.ai' })).toThrow(/STABILITY_BASE_URL: expected an absolute http\(s\) URL/);
  });

  it('adds the relay-only sora_image when OPENAI_BASE_URL points at a relay, and passes organization and project', () => {
    const [channel] = detect({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'https://relay.example/v1', OPENAI_ORG_ID: 'org-1', OPENAI_PROJECT_ID: 'proj-1' }).channels;
    expect(channel?.models).toContain('sora_image');
    expect(channel?.options).toEqual({ organization: 'org-1', project: 'proj-1' });
    expect(detect({ OPENAI_API_KEY: 'k' }).channels[0]?.models).not.toContain('sora_image');
  });

  it('needs AZURE_OPENAI_ENDPOINT with AZURE_OPENAI_API_KEY, and reads the API version and deployments', () => {
    expect(() => detect({ AZURE_OPENAI_API_KEY: 'a' })).toThrow(/AZURE_OPENAI_ENDPOINT is not/);
    const [plain] = detect({ AZURE_OPENAI_API_KEY: 'a', AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com' }).channels;
    expect(plain).toMatchObject({ provider: 'azure', base_url: 'https://res.openai.azure.com' });
    expect(plain?.models).not.toContain('dall-e-2');
    const { channels, detected } = detect({
      AZURE_OPENAI_API_KEY: 'a',
      AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com',
      AZURE_OPENAI_API_VERSION: '2025-04-01-preview',
      AZURE_OPENAI_DEPLOYMENTS: 'gpt-image-1, dall-e-3=my-dalle',
    });
    expect(channels[0]).toMatchObject({ models: ['gpt-image-1', 'dall-e-3'], options: { api_version: '2025-04-01-preview', deployments: { 'dall-e-3': 'my-dalle' } } });
    expect(detected['azure']).toBe('AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_VERSION + AZURE_OPENAI_DEPLOYMENTS');
    expect(() => detect({ AZURE_OPENAI_API_KEY: 'a', AZURE_OPENAI_ENDPOINT: 'https://r.example', AZURE_OPENAI_DEPLOYMENTS: 'flux-dev' })).toThrow(/'flux-dev' is not a model azure serves/);
  });

  it("takes fal's older key pair, and GOOGLE_API_KEY over GEMINI_API_KEY as Google's SDK does", () => {
    expect(detect({ FAL_KEY_ID: 'id', FAL_KEY_SECRET: 'secret' }).channels[0]?.api_key).toBe('id:secret');
    const { channels, detected } = detect({ GEMINI_API_KEY: 'gemini', GOOGLE_API_KEY: 'google' });
    expect(channels[0]?.api_key).toBe('google');
    expect(detected['google']).toBe('GOOGLE_API_KEY');
  });

  it('joins the Kling key pair into one api_key, KLING_* before KLINGAI_*, and refuses half a pair', () => {
    const { channels, detected } = detect({ KLING_ACCESS_KEY: 'ak-1', KLING_SECRET_KEY: 'sk-1', KLINGAI_ACCESS_KEY: 'ak-2', KLINGAI_SECRET_KEY: 'sk-2', KLING_BASE_URL: 'https://api-beijing.klingai.com/' });
    expect(channels).toHaveLength(1);
    expect(channels[0]).toMatchObject({ name: 'kling', provider: 'kling', api_key: 'ak-1:sk-1', base_url: 'https://api-beijing.klingai.com', models: ['kling-v3', 'kling-v2-1', 'kling-v2', 'kling-v1-5', 'kling-v1'] });
    expect(detected).toEqual({ kling: 'KLING_ACCESS_KEY + KLING_SECRET_KEY + KLING_BASE_URL' });
    expect(detect({ KLINGAI_ACCESS_KEY: 'a', KLINGAI_SECRET_KEY: 's' }).channels[0]?.api_key).toBe('a:s');
    expect(() => detect({ KLING_ACCESS_KEY: 'a' })).toThrow(/KLING_ACCESS_KEY is set but KLING_SECRET_KEY is not/);
  });

  it('leaves the models a configured channel lists to it, and drops a detected channel with none left', () => {
    const configured: ChannelConfig[] = [
      { name: 'bfl', provider: 'openai', base_url: 'https://relay.example/v1', models: ['flux-kontext-pro', 'flux-dev'] },
      { name: 'my-google', provider: 'google', models: Object.keys(detectableModels.google) },
    ];
    const { channels, detected } = detect({ BFL_API_KEY: 'b', GEMINI_API_KEY: 'g' }, configured);
    expect(channels.slice(0, 2)).toEqual(configured);
    expect(channels).toHaveLength(3);
    // The name `bfl` is taken by a configured channel, so the detected one is `bfl-env`.
    expect(channels[2]).toMatchObject({ name: 'bfl-env', provider: 'bfl' });
    expect(channels[2]?.models).not.toContain('flux-kontext-pro');
    expect(channels[2]?.models).not.toContain('flux-dev');
    expect(channels[2]?.models).toContain('flux-1.1-pro');
    expect(Object.keys(channels[2]?.model_map ?? {})).toEqual(channels[2]?.models);
    expect(detected).toEqual({ 'bfl-env': 'BFL_API_KEY' });
  });

  it('is turned off by IMAGEGATE_DETECT_CHANNELS=false, and rejects a value that is not a boolean', () => {
    expect(detect({ OPENAI_API_KEY: 'k', IMAGEGATE_DETECT_CHANNELS: 'false' }).channels).toEqual([]);
    expect(detect({ OPENAI_API_KEY: 'k', IMAGEGATE_DETECT_CHANNELS: 'true' }).channels).toHaveLength(1);
    expect(() => detect({ IMAGEGATE_DETECT_CHANNELS: 'sometimes' })).toThrow(/IMAGEGATE_DETECT_CHANNELS: expected true or false/);
  });

  it('makes an ideogram channel from IDEOGRAM_API_KEY (and IDEOGRAM_BASE_URL) serving the three Ideogram 3.0 models', () => {
    const { channels, detected } = detect({ IDEOGRAM_API_KEY: 'ideo-key', IDEOGRAM_BASE_URL: 'http://127.0.0.1:9107/' });
    expect(channels).toHaveLength(1);
    expect(channels[0]).toMatchObject({ name: 'ideogram', provider: 'ideogram', api_key: 'ideo-key', base_url: 'http://127.0.0.1:9107' });
    expect(channels[0]?.models).toEqual(['ideogram-v3', 'ideogram-v3-reframe', 'ideogram-v3-replace-background']);
    expect(detected).toEqual({ ideogram: 'IDEOGRAM_API_KEY + IDEOGRAM_BASE_URL' });
  });

  it('makes a volcengine channel from ARK_API_KEY serving the Seedream models, with ARK_BASE_URL picking the region', () => {
    const { channels, detected } = detect({ ARK_API_KEY: 'ark-key', ARK_BASE_URL: 'https://ark.ap-southeast.bytepluses.com/api/v3/' });
    expect(channels).toEqual([
      expect.objectContaining({ name: 'volcengine', provider: 'volcengine', api_key: 'ark-key', base_url: 'https://ark.ap-southeast.bytepluses.com/api/v3' }),
    ]);
    expect(channels[0]?.models).toEqual(['doubao-seedream-5-0-260128', 'doubao-seedream-4-5-251128', 'doubao-seedream-4-0-250828', 'doubao-seedream-3-0-t2i-250415']);
    expect(detected).toEqual({ volcengine: 'ARK_API_KEY + ARK_BASE_URL' });
    expect(detect({ ARK_API_KEY: 'ark-key' }).channels[0]?.base_url).toBeUndefined();
  });
});


describe('loadConfig with provider keys in the environment', () => {
  it('adds the detected channels and says where they came from', () => {
    const config = loadConfig({ STABILITY_API_KEY: 'sk-s', GOOGLE_API_KEY: 'g' });
    expect(config.channels.map((channel) => channel.name)).toEqual(['google', 'stability']);
    expect(config.detectedChannels).toEqual({ google: 'GOOGLE_API_KEY', stability: 'STABILITY_API_KEY' });
  });

  it('stops with a ConfigError for a half-given Azure credential', () => {
    expect(() => loadConfig({ AZURE_OPENAI_API_KEY: 'a' })).toThrow(ConfigError);
  });
});
