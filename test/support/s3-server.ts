// A real S3 API server for tests: versitygw v1.7.0 (POSIX backend in a temp dir), built from the
// Go module proxy by scripts/provision-s3.sh.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../workers/dev-server.js';

export const S3_CREDENTIALS = { accessKeyId: 'retort-test', secretAccessKey: 'retort-test-secret' };

export function findVersitygw(): string | undefined {
  const explicit = process.env.RETORT_VERSITYGW;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const p = join(
    process.env.RETORT_CACHE ?? join(homedir(), '.cache', 'retort'),
    'versitygw',
    'v1.7.0',
    'versitygw',
  );
  return existsSync(p) ? p : undefined;
}

export interface S3Server {
  endpoint: string;
  bucket: string;
  process: ChildProcess;
  /** Its data directory and port: pass them back to `startS3Server` to restart it (outage tests). */
  dir: string;
  port: number;
  /** Stops the server; `keepData` leaves its directory for a restart. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export async function startS3Server(
  bucket = 'retort-test',
  restart: { dir?: string; port?: number } = {},
): Promise<S3Server> {
  const bin = findVersitygw();
  if (!bin)
    throw new Error(
      'versitygw not found: run `npm run provision` (builds it with Go) or set RETORT_VERSITYGW',
    );
  const dir = restart.dir ?? mkdtempSync(join(tmpdir(), 'retort-s3-'));
  const port = restart.port ?? (await freePort());
  mkdirSync(join(dir, 'data'), { recursive: true });
  mkdirSync(join(dir, '.meta'), { recursive: true });
  const log = openSync(join(dir, 'versitygw.log'), 'a');
  const child = spawn(
    bin,
    ['--port', `127.0.0.1:${port}`, 'posix', '--sidecar', join(dir, '.meta'), join(dir, 'data')],
    {
      env: {
        ...process.env,
        ROOT_ACCESS_KEY: S3_CREDENTIALS.accessKeyId,
        ROOT_SECRET_KEY: S3_CREDENTIALS.secretAccessKey,
      },
      stdio: ['ignore', log, log],
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      break;
    } catch (err) {
      if ((err as Error).name === 'BucketAlreadyOwnedByYou') break; // a restart on the same data
      if (child.exitCode !== null) throw new Error(`versitygw exited with code ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`versitygw not ready: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  client.destroy();
  return {
    endpoint,
    bucket,
    process: child,
    dir,
    port,
    async stop(options = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}
