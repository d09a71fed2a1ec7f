// `imagegate keys create|list|revoke|topup`: manages API keys through the admin API.

import { adminRequest, asCommand, connectionOptions, startAdminCommand, table } from '../admin-client.js';
import { CliFailure, processIo, type CliIo } from '../gateway-http.js';
import type { CliCommand } from '../main.js';

const usage = `usage: imagegate keys <create|list|revoke|topup> [options]

  create --name NAME [--quota CREDITS | --quota-usd USD | --unlimited]
         [--models m1,m2] [--rpm N] [--ipm N] [--concurrency N] [--ip CIDR,...]
         [--group PRICE_GROUP] [--expires ISO-DATE|UNIX-SECONDS]
  list
  revoke KEY_ID
  topup KEY_ID (--credits N | --usd AMOUNT) [--note TEXT]

common: --base-url URL (IMAGEGATE_BASE_URL, default http://127.0.0.1:8080)
        --admin-token TOKEN (IMAGEGATE_ADMIN_TOKEN)   --json   print the API's JSON
1 credit = $0.000001.
`;

const options = {
  ...connectionOptions,
  name: { type: 'string' },
  quota: { type: 'string' },
  'quota-usd': { type: 'string' },
  unlimited: { type: 'boolean' },
  models: { type: 'string' },
  rpm: { type: 'string' },
  ipm: { type: 'string' },
  concurrency: { type: 'string' },
  ip: { type: 'string' },
  group: { type: 'string' },
  expires: { type: 'string' },
  credits: { type: 'string' },
  usd: { type: 'string' },
  note: { type: 'string' },
} as const;

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliFailure(`--${flag} takes a whole number, got '${value}'`, 2);
  return Number(value);
}

const list = (value: string | undefined): string[] | undefined => value?.split(',').map((item) => item.trim()).filter(Boolean);

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  enabled: boolean;
  revoked_at: number | null;
  expires_at: number | null;
  unlimited: boolean;
  balance_usd: string | null;
  balance: number | null;
  allowed_models: string[] | null;
  price_group: string;
  rate_limits: { requests_per_minute: number | null; images_per_minute: number | null; concurrent_requests: number | null };
}

const status = (key: KeyView): string => (key.revoked_at !== null ? 'revoked' : key.enabled ? 'active' : 'disabled');
const quota = (key: KeyView): string => (key.unlimited ? 'unlimited' : `${key.balance} ($${key.balance_usd})`);
const limits = (key: KeyView): string =>
  [
    key.rate_limits.requests_per_minute === null ? '' : `${key.rate_limits.requests_per_minute} rpm`,
    key.rate_limits.images_per_minute === null ? '' : `${key.rate_limits.images_per_minute} ipm`,
    key.rate_limits.concurrent_requests === null ? '' : `${key.rate_limits.concurrent_requests} concurrent`,
  ]
    .filter(Boolean)
    .join(', ');

function keyTable(keys: KeyView[]): string {
  return table(
    ['ID', 'NAME', 'PREFIX', 'STATUS', 'QUOTA (credits)', 'MODELS', 'LIMITS', 'GROUP'],
    keys.map((key) => [key.id, key.name, key.prefix, status(key), quota(key), key.allowed_models?.join(',') ?? 'all', limits(key), key.price_group]),
  );
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const command = startAdminCommand(argv, io, options, usage);
  if ('exitCode' in command) return command.exitCode;
  const { action, values, positionals, target, print } = command;
  const keyId = () => {
    const id = positionals[0];
    if (id === undefined) throw new CliFailure(`keys ${action} needs a KEY_ID\n${usage}`, 2);
    return encodeURIComponent(id);
  };

  switch (action) {
    case 'create': {
      if (!values.name) throw new CliFailure('keys create needs --name', 2);
      const body: Record<string, unknown> = { name: values.name };
      if (values.unlimited) body.unlimited = true;
      const credits = wholeNumber(values.quota, 'quota');
      if (credits !== undefined) body.quota = credits;
      if (values['quota-usd'] !== undefined) body.quota_usd = values['quota-usd'];
      if (values.models !== undefined) body.allowed_models = list(values.models);
      if (values.ip !== undefined) body.ip_allowlist = list(values.ip);
      if (values.group !== undefined) body.price_group = values.group;
      if (values.expires !== undefined) body.expires_at = /^\d+$/.test(values.expires) ? Number(values.expires) : values.expires;
      const rateLimits = { requests_per_minute: wholeNumber(values.rpm, 'rpm'), images_per_minute: wholeNumber(values.ipm, 'ipm'), concurrent_requests: wholeNumber(values.concurrency, 'concurrency') };
      if (Object.values(rateLimits).some((value) => value !== undefined)) body.rate_limits = rateLimits;
      const created = (await adminRequest(io, target, 'POST', '/keys', body)) as KeyView & { secret: string };
      print(created, `${keyTable([created])}\nsecret (shown only this once; keep it): ${created.secret}\n`);
      return 0;
    }
    case 'list': {
      const listed = (await adminRequest(io, target, 'GET', '/keys')) as { data: KeyView[] };
      print(listed, listed.data.length === 0 ? 'no keys\n' : keyTable(listed.data));
      return 0;
    }
    case 'revoke': {
      const revoked = (await adminRequest(io, target, 'POST', `/keys/${keyId()}/revoke`)) as KeyView;
      print(revoked, `revoked ${revoked.id} (${revoked.name})\n`);
      return 0;
    }
    case 'topup': {
      const id = keyId();
      const body: Record<string, unknown> = {};
      const credits = wholeNumber(values.credits, 'credits');
      if (credits !== undefined) body.amount = credits;
      if (values.usd !== undefined) body.amount_usd = values.usd;
      if (credits === undefined && values.usd === undefined) throw new CliFailure('keys topup needs --credits or --usd', 2);
      if (values.note !== undefined) body.note = values.note;
      const result = (await adminRequest(io, target, 'POST', `/keys/${id}/topup`, body)) as { id: string; added: number; added_usd: string; balance: number; balance_usd: string };
      print(result, `added ${result.added} credits ($${result.added_usd}) to ${result.id}; balance ${result.balance} credits ($${result.balance_usd})\n`);
      return 0;
    }
    default:
      throw new CliFailure(`unknown keys action '${action}'\n${usage}`, 2);
  }
}

export function createKeysCommand(io: () => CliIo = processIo): CliCommand {
  return asCommand('manage API keys through the admin API (create, list, revoke, topup)', io, run);
}

export const keysCommand = createKeysCommand();
