// `imagegate channels list|test`: shows channels and tests one, through the admin API.

import { adminRequest, asCommand, connectionOptions, startAdminCommand, table } from '../admin-client.js';
import { CliFailure, processIo, type CliIo } from '../gateway-http.js';
import type { CliCommand } from '../main.js';

const usage = `usage: imagegate channels <list|test> [options]

  list
  test CHANNEL [--model MODEL]   one small real generation through the channel

common: --base-url URL (IMAGEGATE_BASE_URL, default http://127.0.0.1:8080)
        --admin-token TOKEN (IMAGEGATE_ADMIN_TOKEN)   --json   print the API's JSON
`;

const options = { ...connectionOptions, model: { type: 'string' } } as const;

interface ChannelRow {
  name: string;
  provider: string;
  enabled: boolean;
  disabled_reason?: string | null;
  models: string[];
  priority: number;
  weight: number;
  health?: { circuit?: string; in_flight?: number };
}

type TestResult = { ok: true; channel: string; model: string; upstream_model: string; latency_ms: number; format: string } | { ok: false; channel: string; model: string; upstream_model: string; latency_ms: number; error: { code: string; message: string } };

async function run(argv: string[], io: CliIo): Promise<number> {
  const command = startAdminCommand(argv, io, options, usage);
  if ('exitCode' in command) return command.exitCode;
  const { action, values, positionals, target, print } = command;

  switch (action) {
    case 'list': {
      const listed = (await adminRequest(io, target, 'GET', '/channels')) as { data: ChannelRow[] };
      const text =
        listed.data.length === 0
          ? 'no channels (every model is served by the offline engine)\n'
          : table(
              ['NAME', 'PROVIDER', 'STATUS', 'PRIORITY', 'WEIGHT', 'CIRCUIT', 'MODELS'],
              listed.data.map((channel) => [
                channel.name,
                channel.provider,
                channel.enabled ? 'enabled' : `disabled${channel.disabled_reason ? ` (${channel.disabled_reason})` : ''}`,
                channel.priority,
                channel.weight,
                channel.health?.circuit,
                channel.models.join(','),
              ]),
            );
      print(listed, text);
      return 0;
    }
    case 'test': {
      const name = positionals[0];
      if (name === undefined) throw new CliFailure(`channels test needs a CHANNEL\n${usage}`, 2);
      const result = (await adminRequest(io, target, 'POST', `/channels/${encodeURIComponent(name)}/test`, values.model === undefined ? {} : { model: values.model })) as TestResult;
      const text = result.ok
        ? `ok: ${result.channel} generated ${result.model} (upstream ${result.upstream_model}) as ${result.format} in ${result.latency_ms} ms\n`
        : `failed: ${result.channel} ${result.model} (upstream ${result.upstream_model}) after ${result.latency_ms} ms: ${result.error.code}: ${result.error.message}\n`;
      print(result, text);
      return result.ok ? 0 : 1;
    }
    default:
      throw new CliFailure(`unknown channels action '${action}'\n${usage}`, 2);
  }
}

export function createChannelsCommand(io: () => CliIo = processIo): CliCommand {
  return asCommand('list and test channels through the admin API', io, run);
}

export const channelsCommand = createChannelsCommand();
