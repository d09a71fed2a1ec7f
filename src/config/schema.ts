// The configuration file's schema (YAML, IMAGEGATE_CONFIG) and the resolved config type.

import { Type, type Static } from '@sinclair/typebox';

const Channel = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    provider: Type.Union(
      ['openai', 'azure', 'bfl', 'replicate', 'fal', 'google', 'stability', 'offline'].map((name) => Type.Literal(name)),
      { description: 'one of openai, azure, bfl, replicate, fal, google, stability, offline' },
    ),
    base_url: Type.Optional(Type.String({ minLength: 1 })),
    api_key: Type.Optional(Type.String()),
    models: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    model_map: Type.Optional(Type.Record(Type.String(), Type.String())),
    priority: Type.Optional(Type.Integer()),
    weight: Type.Optional(Type.Integer({ minimum: 0 })),
    enabled: Type.Optional(Type.Boolean()),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    poll_interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    server: Type.Optional(
      Type.Object(
        {
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          host: Type.Optional(Type.String()),
          public_url: Type.Optional(Type.String()),
          body_limit_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          request_timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    storage: Type.Optional(Type.Object({ data_dir: Type.Optional(Type.String()) }, { additionalProperties: false })),
    images: Type.Optional(
      Type.Object(
        {
          url_ttl_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
          signing_secret: Type.Optional(Type.String({ minLength: 16 })),
          max_download_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    offline: Type.Optional(
      Type.Object({ latency_ms: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
    ),
    network: Type.Optional(
      Type.Object(
        {
          allow_private_networks: Type.Optional(Type.Boolean()),
          allow_hosts: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    catalog: Type.Optional(
      Type.Object(
        {
          models: Type.Optional(Type.Array(Type.Object({ id: Type.String() }, { additionalProperties: true }))),
          aliases: Type.Optional(Type.Record(Type.String(), Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    channels: Type.Optional(Type.Array(Channel)),
    log_level: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
  },
  { additionalProperties: false },
);

export type ConfigFile = Static<typeof ConfigFileSchema>;
export type ChannelConfig = Static<typeof Channel>;

export interface AppConfig {
  port: number;
  host: string;
  /** Base of hosted-result URLs; when absent, the request's own scheme and host are used. */
  publicUrl: string | undefined;
  bodyLimitBytes: number;
  dataDir: string;
  apiKeys: string[];
  adminToken: string | undefined;
  /** HMAC secret for signed URLs; when absent, one is generated and kept in the data dir. */
  signingSecret: string | undefined;
  urlTtlSeconds: number;
  maxDownloadBytes: number;
  offlineLatencyMs: number;
  allowPrivateNetworks: boolean;
  allowHosts: string[];
  catalog: NonNullable<ConfigFile['catalog']>;
  channels: ChannelConfig[];
  logLevel: string;
  /** Where the config came from, for the start-up log. */
  configFile: string | undefined;
}
