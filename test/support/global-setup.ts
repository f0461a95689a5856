// One real Temporal dev server and one real S3 API server per test run, and the workflow bundle
// built once (DESIGN.md §8). Tests read their addresses with `inject(...)`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startDevServer } from '../../workers/dev-server.js';
import { workflowBundle } from '../../workers/workers.js';
import { startS3Server } from './s3-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    s3Endpoint: string;
    s3Bucket: string;
    workflowBundlePath: string;
    scratchDir: string;
  }
}

export default async function setup(project: TestProject) {
  const scratch = mkdtempSync(join(tmpdir(), 'retort-test-'));
  const [server, s3, bundle] = await Promise.all([
    startDevServer({
      uiPort: false,
      logFile: join(scratch, 'temporal.log'),
      dynamicConfig: { 'limit.blobSize.error': 65536 },
    }),
    startS3Server(),
    workflowBundle(),
  ]);
  const bundlePath = join(scratch, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('s3Endpoint', s3.endpoint);
  project.provide('s3Bucket', s3.bucket);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('scratchDir', scratch);
  return async () => {
    await Promise.all([server.stop(), s3.stop()]);
  };
}
