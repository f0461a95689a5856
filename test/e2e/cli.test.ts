// The CLI contract (DESIGN.md §7), driven as a user would: child processes, real dev server.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { freePort } from '../../workers/dev-server.js';
import { connectClient, retortCli, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

const retort = retortCli;

describe('retort CLI', () => {
  it('doctor --json reports node, backend with GFLOP/s, Temporal and the store', async () => {
    const store = tempFileStore('doctor');
    const { stdout } = await retort(['doctor', '--json'], { RETORT_STORE: store.root });
    const report = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    expect(report.node).toBe(process.version);
    expect(report.backend!.name).toBe(process.env.RETORT_TF_BACKEND === 'cpu' ? 'cpu' : 'tfjs-node');
    expect(report.backend!.gflops).toBeGreaterThan(0);
    expect(report.temporal).toMatchObject({ address: inject('temporalAddress'), reachable: true });
    expect(String(report.temporal!.version)).toContain('1.5.1');
    expect(report.store).toEqual({ uri: store.root, writable: true });
  });

  it('run examples/ingest-corpus.json --wait --json prints {workflowId, runId, status, result}', async () => {
    const store = tempFileStore('cli-run');
    const taskQueue = uniqueQueue('cli');
    const { runUntil } = await startWorkers(store, taskQueue);
    const { stdout } = await runUntil(() =>
      retort([
        'run',
        'examples/ingest-corpus.json',
        '--wait',
        '--json',
        '--task-queue',
        taskQueue,
        '--id',
        `cli-${taskQueue}`,
      ]),
    );
    const out = JSON.parse(stdout) as {
      workflowId: string;
      runId: string;
      status: string;
      result: { groups: { group: string }[] };
    };
    expect(Object.keys(out).sort()).toEqual(['result', 'runId', 'status', 'workflowId']);
    expect(out.status).toBe('COMPLETED');
    expect(out.workflowId).toBe(`cli-${taskQueue}`);
    expect(out.result.groups.map((g) => g.group)).toEqual(['code', 'novel', 'speeches']);
  });

  it('run rejects an invalid input file before starting anything, naming the field', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/retort-cli-');
    writeFileSync(`${dir}/ingest-corpus.json`, JSON.stringify({ ctx: 'big' }));
    await expect(retort(['run', `${dir}/ingest-corpus.json`, '--wait'])).rejects.toMatchObject({
      stderr: expect.stringContaining('field "ctx"'),
    });
  });

  it('run --wait prints the UI link at start, progress lines and a human summary', async () => {
    const store = tempFileStore('cli-human');
    const taskQueue = uniqueQueue('cli-human');
    const { runUntil } = await startWorkers(store, taskQueue);
    const id = `cli-human-${taskQueue}`;
    const { stdout, stderr } = await runUntil(() =>
      retort(['run', 'examples/ingest-corpus.json', '--wait', '--task-queue', taskQueue, '--id', id], {
        RETORT_UI_URL: 'http://ui.example:8233',
      }),
    );
    const link = `http://ui.example:8233/namespaces/default/workflows/${encodeURIComponent(id)}`;
    expect(stderr.split('\n')[0]).toBe(`started ingestCorpus ${id}`);
    expect(stderr).toContain(`Web UI: ${link}`);
    // Not a terminal: one line per change, each naming the stage.
    expect(stderr).toMatch(/^(ingest|tokenize|manifest|done)\b/m);
    expect(stdout).toContain(`ingestCorpus ${id}: COMPLETED`);
    expect(stdout).toContain('groups: code, novel, speeches');
    expect(stdout).toContain(`Web UI: ${link}`);
    expect(stdout.split('\n').length).toBeLessThan(20);
    // The Web UI shows what the run is under its static summary and details.
    const { client, connection } = await connectClient();
    try {
      const d = await client.workflow.getHandle(id).describe();
      expect(await d.staticSummary()).toBe('ingestCorpus builtin-text');
      expect(await d.staticDetails()).toContain('**ingestCorpus** started with the Retort client.');
      // Activities carry their one-line summary (workflows/activity-summaries.ts) in the history.
      const history = await client.workflow.getHandle(id).fetchHistory();
      const summaries = (history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => e.userMetadata?.summary?.data)
        .filter((b): b is Uint8Array => !!b)
        .map((b) => JSON.parse(new TextDecoder().decode(b)) as string);
      expect(summaries).toContain('report.html (ingest)');
    } finally {
      await connection.close();
    }
  });
});

/** Runs the CLI expecting a user error: exit code 2, `retort: …` and `hint: …`, no stack trace. */
async function userError(args: string[], env: Record<string, string> = {}): Promise<string> {
  const err = (await retort(args, env).then(
    () => ({ code: 0, stderr: '' }),
    (e: unknown) => e,
  )) as { code: number; stderr: string; stdout: string };
  const lines = err.stderr.trimEnd().split('\n');
  expect({ code: err.code, lines: lines.length }, err.stderr).toEqual({ code: 2, lines: 2 });
  expect(lines[0]).toMatch(/^retort: /);
  expect(lines[1]).toMatch(/^hint: /);
  expect(err.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('retort CLI user errors: one line, a hint, exit code 2', () => {
  const dir = mkdtempSync('/tmp/retort-cli-errors-');

  it.each(['run', 'status', 'report', 'schedule', 'doctor', 'server', 'worker', 'start'])(
    '%s --help exits 0 with its usage',
    async (command) => {
      const { stdout } = await retort([command, '--help']);
      expect(stdout).toMatch(new RegExp(`usage:[\\s\\S]*retort ${command}`));
    },
  );

  it('schedule create --help exits 0', async () => {
    const { stdout } = await retort(['schedule', 'create', '--help']);
    expect(stdout).toContain('retort schedule create <id> <input.json>');
  });

  it('an unknown workflow ID (status, report)', async () => {
    expect(await userError(['status', 'no-such-run'])).toBe(
      'retort: no workflow with ID "no-such-run" in namespace default',
    );
    expect(await userError(['report', 'no-such-run'])).toContain('no workflow with ID "no-such-run"');
  });

  it('no server at TEMPORAL_ADDRESS', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const line = await userError(['status', 'x'], { TEMPORAL_ADDRESS: address });
    expect(line).toContain(`cannot reach the Temporal server at ${address}`);
    const { stderr } = (await retort(['run', 'examples/ingest-corpus.json'], {
      TEMPORAL_ADDRESS: address,
    }).catch((e: unknown) => e)) as { stderr: string };
    expect(stderr).toContain('hint: start one with `retort server`');
    expect(stderr).toContain('TEMPORAL_ADDRESS');
  });

  it('a bad --every duration, before anything is created', async () => {
    expect(
      await userError([
        'schedule',
        'create',
        'bad-every',
        'examples/curate-corpus.json',
        '--every',
        'tomorrow',
      ]),
    ).toBe('retort: --every "tomorrow" is not a duration');
  });

  it('a duplicate schedule', async () => {
    const id = `dup-${uniqueQueue('s')}`;
    await retort(['schedule', 'create', id, 'examples/curate-corpus.json', '--paused']);
    try {
      expect(await userError(['schedule', 'create', id, 'examples/curate-corpus.json', '--paused'])).toBe(
        `retort: schedule "${id}" already exists`,
      );
    } finally {
      await retort(['schedule', 'delete', id]);
    }
    expect(await userError(['schedule', 'delete', id])).toBe(`retort: no schedule "${id}"`);
  });

  it('schedule backfill: bad dates, an empty range, a bad overlap, an unknown schedule', async () => {
    const backfill = (...args: string[]) => userError(['schedule', 'backfill', 'no-such-schedule', ...args]);
    expect(await backfill('--from', '2026-11-01')).toBe('retort: schedule backfill needs --from and --to');
    expect(await backfill('--from', 'yesterday', '--to', '2026-11-03')).toBe(
      'retort: --from "yesterday" is not an ISO 8601 date or date-time',
    );
    expect(await backfill('--from', '2026-11-01', '--to', '2026-02-30')).toBe(
      'retort: --to "2026-02-30" is not an ISO 8601 date or date-time',
    );
    // A date-time without Z or an offset would mean the local zone of whoever typed it.
    expect(await backfill('--from', '2026-11-01T00:00', '--to', '2026-11-03')).toContain(
      '--from "2026-11-01T00:00"',
    );
    expect(await backfill('--from', '2026-11-03', '--to', '2026-11-01')).toBe(
      'retort: --from 2026-11-03 is not before --to 2026-11-01',
    );
    expect(await backfill('--from', '2026-11-01', '--to', '2026-11-03', '--overlap', 'queue')).toBe(
      'retort: --overlap "queue" is not an overlap policy',
    );
    expect(await backfill('--from', '2026-11-01', '--to', '2026-11-03T12:00:00+02:00')).toBe(
      'retort: no schedule "no-such-schedule"',
    );
  });

  it('a missing input file', async () => {
    expect(await userError(['run', 'examples/nope.json'])).toBe('retort: no such file: examples/nope.json');
  });

  it('invalid JSON, with line and column', async () => {
    writeFileSync(join(dir, 'ingest-corpus.json'), '{\n  "seed": 1,\n}\n');
    expect(await userError(['run', join(dir, 'ingest-corpus.json')])).toMatch(
      new RegExp(`^retort: ${join(dir, 'ingest-corpus.json')}:3:1: invalid JSON`),
    );
  });

  it('an invalid field, an unknown option, an unknown command', async () => {
    writeFileSync(join(dir, 'ingest-corpus.json'), JSON.stringify({ ctx: 'big' }));
    expect(await userError(['run', join(dir, 'ingest-corpus.json')])).toContain('field "ctx"');
    expect(await userError(['run', 'examples/ingest-corpus.json', '--bogus'])).toBe(
      "retort: run: unknown option '--bogus'",
    );
    expect(await userError(['frobnicate'])).toBe('retort: unknown command "frobnicate"');
  });
});

describe('heavy workflows state what they run', () => {
  it.each(['distill-dataset', 'distill-cvdd'])('%s: {} fails at once, naming the examples', async (name) => {
    const store = tempFileStore('cli-empty');
    const taskQueue = uniqueQueue('cli-empty');
    const { runUntil } = await startWorkers(store, taskQueue);
    const dir = mkdtempSync('/tmp/retort-cli-empty-');
    writeFileSync(join(dir, `${name}.json`), '{}');
    const err = (await runUntil(() =>
      retort([
        'run',
        join(dir, `${name}.json`),
        '--wait',
        '--task-queue',
        taskQueue,
        '--id',
        `${name}-${taskQueue}`,
      ]).catch((e: unknown) => e),
    )) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('InvalidPipelineInput');
    expect(err.stderr).toContain(`input is empty`);
    expect(err.stderr).toContain(`examples/${name}.json`);
  });
});

describe('retort server', () => {
  it('--db-filename outside .retort/ starts in a fresh directory (log beside the database)', async () => {
    const cwd = mkdtempSync('/tmp/retort-fresh-');
    const db = join(mkdtempSync('/tmp/retort-elsewhere-'), 'sub', 't.db');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [resolve('bin/retort.mjs'), 'server', '--headless', '--port', String(port), '--db-filename', db],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const ready = await Promise.race([
      new Promise<boolean>((r) => {
        const check = setInterval(() => {
          if (output.includes('Temporal dev server')) {
            clearInterval(check);
            r(true);
          }
        }, 100);
        void exited.then(() => {
          clearInterval(check);
          r(false);
        });
      }),
    ]);
    child.kill('SIGINT');
    await exited;
    expect(ready, output).toBe(true);
    expect(output).toContain(`127.0.0.1:${port}`);
    expect(existsSync(db)).toBe(true);
    expect(existsSync(join(db, '..', 'temporal.log'))).toBe(true);
    expect(existsSync(join(cwd, '.retort'))).toBe(false);
  });
});
