// Connection settings through an envconfig profile (temporal.toml, as the `temporal` CLI reads it):
// the client reaches the real dev server named only by the profile, and explicit settings win.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { temporalSettings } from '../../client/connection.js';
import { RetortClient } from '../../client/index.js';

describe('envconfig profiles', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'retort-profile-')), 'temporal.toml');
  writeFileSync(
    file,
    [
      '[profile.retort-test]',
      `address = "${inject('temporalAddress')}"`,
      'namespace = "default"',
      '[profile.cloud]',
      'address = "example.tmprl.cloud:7233"',
      'namespace = "team.a1b2c"',
      'api_key = "secret-key"',
      '',
    ].join('\n'),
  );

  it('reads address, namespace, API key and TLS from a profile', () => {
    const cloud = temporalSettings({ profile: 'cloud', configFile: file });
    expect(cloud.connectionOptions.address).toBe('example.tmprl.cloud:7233');
    expect(cloud.namespace).toBe('team.a1b2c');
    expect(cloud.connectionOptions.apiKey).toBe('secret-key');
    expect(cloud.connectionOptions.tls).toBeTruthy(); // an API key implies TLS, as in the temporal CLI
    expect(
      temporalSettings({ profile: 'cloud', configFile: file, address: 'x:1' }).connectionOptions.address,
    ).toBe('x:1');
  });

  it('the client connects to the dev server named only by the profile', async () => {
    const retort = await RetortClient.connect({ profile: 'retort-test', configFile: file });
    try {
      const info = await retort.client.workflowService.getSystemInfo({});
      expect(info.capabilities).toBeDefined();
    } finally {
      await retort.close();
    }
  });
});
