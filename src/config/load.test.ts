// loadConfig and parseConfigFile: defaults, environment overrides, and start-up errors that name the bad key.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfigFile } from './load.js';
import { providerNames } from './provider-names.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-config-'));
});
afterAll(async () => rm(folder, { recursive: true, force: true }));

async function configFile(name: string, text: string): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, text);
  return path;
}

/** The ConfigError a call throws (the test fails if it throws nothing or something else). */
function configErrorOf(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

describe('loadConfig defaults and environment', () => {
  it('uses the documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      dataDir: './data',
      publicUrl: undefined,
      urlTtlSeconds: 3600,
      apiKeys: [],
      channels: [],
      catalog: {},
      configFile: undefined,
    });
  });

  it('reads several comma-separated IMAGEGATE_API_KEYS, trimming blanks', () => {
    expect(loadConfig({ IMAGEGATE_API_KEYS: ' sk-one, sk-two,,sk-three ' }).apiKeys).toEqual(['sk-one', 'sk-two', 'sk-three']);
  });

  it('lets PORT, HOST, IMAGEGATE_DATA_DIR, IMAGEGATE_PUBLIC_URL and IMAGEGATE_URL_TTL_SECONDS override the file', async () => {
    const path = await configFile(
      'server.yaml',
      ['server:', '  port: 9000', '  host: 0.0.0.0', '  public_url: https://file.example', 'storage:', '  data_dir: /srv/file-data', 'images:', '  url_ttl_seconds: 60'].join('\n'),
    );
    const fromFile = loadConfig({ IMAGEGATE_CONFIG: path });
    expect(fromFile).toMatchObject({ port: 9000, host: '0.0.0.0', publicUrl: 'https://file.example', dataDir: '/srv/file-data', urlTtlSeconds: 60, configFile: path });

    const overridden = loadConfig({
      IMAGEGATE_CONFIG: path,
      PORT: '9100',
      HOST: '127.0.0.2',
      IMAGEGATE_DATA_DIR: '/srv/env-data',
      IMAGEGATE_PUBLIC_URL: 'https://images.example.com/',
      IMAGEGATE_URL_TTL_SECONDS: '120',
    });
    expect(overridden).toMatchObject({ port: 9100, host: '127.0.0.2', dataDir: '/srv/env-data', publicUrl: 'https://images.example.com', urlTtlSeconds: 120 });
  });

  it.each([
    ['PORT', 'eighty', 'PORT'],
    ['PORT', '70000', 'PORT'],
    ['IMAGEGATE_URL_TTL_SECONDS', '0', 'IMAGEGATE_URL_TTL_SECONDS'],
    ['IMAGEGATE_URL_TTL_SECONDS', '-5', 'IMAGEGATE_URL_TTL_SECONDS'],
    ['IMAGEGATE_PUBLIC_URL', 'images.example.com', 'IMAGEGATE_PUBLIC_URL'],
    ['IMAGEGATE_ALLOW_PRIVATE_NETWORKS', 'maybe', 'IMAGEGATE_ALLOW_PRIVATE_NETWORKS'],
  ])('rejects %s=%s naming the variable', (name, value, named) => {
    const error = configErrorOf(() => loadConfig({ [name]: value }));
    expect(error.message).toContain(named);
    expect(error.message).toContain(value);
  });

  it('reads the running tasks\' input budget in megabytes from tasks.max_input_mb or IMAGEGATE_TASK_MAX_INPUT_MB, absent by default', async () => {
    expect(loadConfig({}).tasks.maxInputBytes).toBeUndefined();
    const path = await configFile('tasks.yaml', ['tasks:', '  max_input_mb: 64'].join('\n'));
    expect(loadConfig({ IMAGEGATE_CONFIG: path }).tasks.maxInputBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ IMAGEGATE_CONFIG: path, IMAGEGATE_TASK_MAX_INPUT_MB: '512' }).tasks.maxInputBytes).toBe(512 * 1024 * 1024);
    expect(configErrorOf(() => loadConfig({ IMAGEGATE_TASK_MAX_INPUT_MB: '0' })).message).toContain('IMAGEGATE_TASK_MAX_INPUT_MB');
  });

  it('reads the request bodies\' memory budget from server.body_memory_mb or IMAGEGATE_BODY_MEMORY_MB, absent by default, and refuses one below the body limit', async () => {
    expect(loadConfig({}).bodyMemoryBytes).toBeUndefined();
    const path = await configFile('bodies.yaml', ['server:', '  body_limit_mb: 16', '  body_memory_mb: 128'].join('\n'));
    expect(loadConfig({ IMAGEGATE_CONFIG: path }).bodyMemoryBytes).toBe(128 * 1024 * 1024);
    expect(loadConfig({ IMAGEGATE_CONFIG: path, IMAGEGATE_BODY_MEMORY_MB: '512' }).bodyMemoryBytes).toBe(512 * 1024 * 1024);
    const error = configErrorOf(() => loadConfig({ IMAGEGATE_CONFIG: path, IMAGEGATE_BODY_MEMORY_MB: '8' }));
    expect(error.message).toContain('server.body_memory_mb');
    expect(error.message).toContain('body_limit_mb');
  });

  it('says when IMAGEGATE_CONFIG names a file that cannot be read', () => {
    const error = configErrorOf(() => loadConfig({ IMAGEGATE_CONFIG: join(folder, 'missing.yaml') }));
    expect(error.message).toMatch(/IMAGEGATE_CONFIG=.*missing\.yaml: cannot read the file \(ENOENT\)/);
  });

  it('passes catalog overrides and channels through, with ${VAR} references expanded', async () => {
    const path = await configFile(
      'channels.yaml',
      [
        'catalog:',
        '  models:',
        '    - { id: dall-e-3, prompt_max_length: 100 }',
        '  aliases: { house-model: gpt-image-1 }',
        'channels:',
        '  - name: main',
        '    provider: openai',
        '    api_key: "${OPENAI_KEY_FOR_TEST}"',
        '    base_url: "http://${UPSTREAM_HOST}/v1"',
        '    models: [gpt-image-1]',
      ].join('\n'),
    );
    const config = loadConfig({ IMAGEGATE_CONFIG: path, OPENAI_KEY_FOR_TEST: 'sk-upstream-secret', UPSTREAM_HOST: '127.0.0.1:9999' });
    expect(config.catalog).toEqual({ models: [{ id: 'dall-e-3', prompt_max_length: 100 }], aliases: { 'house-model': 'gpt-image-1' } });
    expect(config.channels[0]).toMatchObject({ name: 'main', provider: 'openai', api_key: 'sk-upstream-secret', base_url: 'http://127.0.0.1:9999/v1' });
  });
});

describe('parseConfigFile errors name the bad key and what is expected', () => {
  const channel = (extra: string) => ['channels:', '  - name: main', '    provider: openai', '    models: [gpt-image-1]', extra].join('\n');

  it('rejects an unknown key and lists the known ones', () => {
    const error = configErrorOf(() => parseConfigFile('server:\n  prot: 8080\n', {}, 'imagegate.yaml'));
    expect(error.message).toMatch(/^imagegate\.yaml: 'server\.prot': unknown key; expected one of: port, host, public_url, /);
  });

  it('rejects an unknown top-level key and an unknown channel key', () => {
    expect(configErrorOf(() => parseConfigFile('chanels: []\n', {}, 'c.yaml')).message).toMatch(/^c\.yaml: 'chanels': unknown key; expected one of: server, .*channels/);
    expect(configErrorOf(() => parseConfigFile(channel('    wieght: 2'), {}, 'c.yaml')).message).toMatch(/'channels\[0\]\.wieght': unknown key; expected one of: .*weight/);
  });

  it('rejects a wrong type, saying what it expected and what it got', () => {
    const error = configErrorOf(() => parseConfigFile('server:\n  port: eighty\n', {}, 'c.yaml'));
    expect(error.message).toBe(`c.yaml: 'server.port': expected integer, got "eighty"`);
  });

  it('rejects a channel provider it does not know, listing the providers', () => {
    const error = configErrorOf(() => parseConfigFile(channel('').replace('provider: openai', 'provider: openia'), {}, 'c.yaml'));
    expect(error.message).toBe(`c.yaml: 'channels[0].provider': expected one of ${providerNames.join(', ')}, got "openia"`);
  });

  it('rejects a ${VAR} reference to a variable that is not set, naming key and variable', () => {
    const error = configErrorOf(() => parseConfigFile(channel('    api_key: "${MISSING_ENV_FOR_TEST}"'), {}, 'c.yaml'));
    expect(error.message).toBe("c.yaml: 'channels[0].api_key': refers to the environment variable MISSING_ENV_FOR_TEST, which is not set; set it or write the value");
  });

  it('names a required key that is missing', () => {
    const error = configErrorOf(() => parseConfigFile('channels:\n  - provider: openai\n    models: [gpt-image-1]\n', {}, 'c.yaml'));
    expect(error.message).toBe("c.yaml: 'channels[0].name': missing; this key is required");
  });

  it('lists the allowed log levels', () => {
    const error = configErrorOf(() => parseConfigFile('log_level: loud\n', {}, 'c.yaml'));
    expect(error.message).toBe(`c.yaml: 'log_level': expected one of fatal, error, warn, info, debug, trace, silent, got "loud"`);
  });

  it('never echoes a secret given with the wrong type', () => {
    const error = configErrorOf(() => parseConfigFile(channel('    api_key: 98765432101234'), {}, 'c.yaml'));
    expect(error.message).toBe("c.yaml: 'channels[0].api_key': expected string");
    expect(error.message).not.toContain('98765432101234');
  });

  it('reports YAML that does not parse', () => {
    const error = configErrorOf(() => parseConfigFile('server: [unclosed\n', {}, 'c.yaml'));
    expect(error.message).toMatch(/^c\.yaml: not valid YAML: /);
  });

  it('accepts an empty file', () => {
    expect(parseConfigFile('', {}, 'c.yaml')).toEqual({});
  });
});
