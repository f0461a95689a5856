// Connection settings the way the `temporal` CLI reads them (@temporalio/envconfig): a profile of
// `temporal.toml` (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE),
// overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, … — so the
// client, the CLI and the workers reach a secured cluster or Temporal Cloud with the same settings.
import { type ClientConnectConfig, loadClientConnectConfig } from '@temporalio/envconfig';

export interface TemporalSettings {
  /** Overrides the profile's address (and TEMPORAL_ADDRESS). */
  address?: string;
  /** Overrides the profile's namespace (and TEMPORAL_NAMESPACE). */
  namespace?: string;
  /** Profile name (default TEMPORAL_PROFILE, else "default"). */
  profile?: string;
  /** A temporal.toml to read instead of TEMPORAL_CONFIG_FILE / the default path. */
  configFile?: string;
}

/** The local dev server, when nothing else is configured. */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

/**
 * Connection options (address, TLS/mTLS, API key, gRPC metadata) and namespace for client and
 * workers. Explicit `address`/`namespace` win over the profile and the environment.
 */
export function temporalSettings(options: TemporalSettings = {}): {
  connectionOptions: ClientConnectConfig['connectionOptions'] & { address: string };
  namespace: string;
} {
  const loaded = loadClientConnectConfig({
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.configFile ? { configSource: { path: options.configFile } } : {}),
  });
  return {
    connectionOptions: {
      ...loaded.connectionOptions,
      address: options.address ?? loaded.connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS,
    },
    namespace: options.namespace ?? loaded.namespace ?? 'default',
  };
}
