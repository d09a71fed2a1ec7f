// The two trust policies of outbound traffic, each with its own guarded client so that neither can
// borrow the other's trust:
//
// - channel traffic: what the gateway sends to a channel on the channel's behalf (its base URL, the
//   polling and result URLs it hands back, a channel test). The operator configured these hosts, so
//   they are reachable even on private addresses: every channel's base URL host, plus
//   `network.allow_hosts`.
// - user URLs: every URL a request body names (edit image URLs, callback_url / webhook_url). These
//   are public-only; the operator may open specific hosts with `network.user_url_allow_hosts`, a
//   separate list, so that naming an internal upstream as a channel never lets a user reach it.
//
// `network.allow_private_networks` switches the guard off for both (tests, single-tenant setups).

import { createHttpClient, type GuardedHttpClient, type ResolvedAddress } from './http-client.js';

export interface OutboundClientsConfig {
  allowPrivateNetworks: boolean;
  /** network.allow_hosts: operator-trusted hosts for channel traffic. */
  channelAllowHosts: string[];
  /** Hosts of channels, asked live so channels added at run time are trusted at once. */
  isChannelHost: (url: URL) => boolean;
  /** network.user_url_allow_hosts: hosts user URLs may name even on private addresses. */
  userUrlAllowHosts: string[];
  /** Largest response body either client reads. */
  maxBytes: number;
  /** Tests fake DNS answers through this; the system resolver otherwise. */
  resolveHost?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
}

export interface OutboundClients {
  channelTraffic: GuardedHttpClient;
  userUrls: GuardedHttpClient;
  close(): Promise<void>;
}

export function createOutboundClients(config: OutboundClientsConfig): OutboundClients {
  const shared = {
    allowPrivateNetworks: config.allowPrivateNetworks,
    maxBytes: config.maxBytes,
    ...(config.resolveHost === undefined ? {} : { resolveHost: config.resolveHost }),
  };
  const channelTraffic = createHttpClient({ ...shared, allowHosts: config.channelAllowHosts, isTrustedHost: config.isChannelHost });
  const userUrls = createHttpClient({ ...shared, allowHosts: config.userUrlAllowHosts });
  return {
    channelTraffic,
    userUrls,
    close: async () => {
      await Promise.all([channelTraffic.close(), userUrls.close()]);
    },
  };
}
