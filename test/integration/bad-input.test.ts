// Bad input → a non-retryable failure naming the file and column, and nothing half-written.
import { randomUUID } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure, type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import type { IngestCorpusInput } from '../../schemas/ingest.js';
import { RetortDataset, RetortPipeline, RetortStage } from '../../schemas/temporal.js';
import { TEXT_CORPUS, type TableContract } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { encodeParquet } from '../../storage/parquet.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const store = tempFileStore('bad-input');
const file = (name: string, bytes: Uint8Array | string) => {
  const path = join(store.dir, 'inputs', name);
  writeFileSync(path, bytes);
  return `file://${path}`;
};

/** Runs ingestCorpus on `uri` and returns the workflow's failure. */
async function ingestFailure(
  uri: string,
  extra: Partial<IngestCorpusInput> = {},
  workflowId = `bad-${randomUUID()}`,
): Promise<ApplicationFailure> {
  const taskQueue = uniqueQueue('bad');
  const { runUntil } = await startWorkers(store, taskQueue);
  const err = await runUntil(() =>
    client.workflow
      .execute('ingestCorpus', {
        taskQueue,
        workflowId,
        args: [{ dataset: 'bad', source: { uri }, profile: 'test', ...extra }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      ),
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

async function expectNothingWritten() {
  expect((await store.list('artifacts/')).map((o) => o.key)).toEqual([]);
  expect((await store.list('runs/')).map((o) => o.key)).toEqual([]);
  expect(await store.pendingTempFiles()).toEqual([]);
}

describe('ingestCorpus rejects bad input', () => {
  // The inputs folder beside the store (an allowed input root) must exist before files are written to it.
  beforeAll(async () => {
    await store.put('inputs/.keep', new Uint8Array());
  });

  it('corrupt Parquet → CorruptDataset naming the file', async () => {
    const uri = file(
      'corrupt.parquet',
      new Uint8Array(Array.from({ length: 4096 }, (_x, i) => (i * 7919) % 251)),
    );
    const f = await ingestFailure(uri);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('CorruptDataset');
    expect(f.message).toContain('corrupt.parquet');
    await expectNothingWritten();
  });

  it('wrong column type → DatasetSchemaMismatch naming column and file', async () => {
    const wrong: TableContract = {
      name: 'wrong',
      columns: [TEXT_CORPUS.columns[0]!, TEXT_CORPUS.columns[1]!, { name: 'text', type: { kind: 'int32' } }],
    };
    const uri = file(
      'wrong-type.parquet',
      encodeParquet(buildTable(wrong, { id: ['a'], group: ['g'], text: new Int32Array([1]) })),
    );
    const f = await ingestFailure(uri);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('DatasetSchemaMismatch');
    expect(f.message).toContain('"text"');
    expect(f.message).toContain('wrong-type.parquet');
    expect(f.message).toContain('expected utf8, got int32');
    await expectNothingWritten();
  });

  it('empty table → EmptyDataset naming the file', async () => {
    const uri = file(
      'empty.parquet',
      encodeParquet(buildTable(TEXT_CORPUS, { id: [], group: [], text: [], source: [] })),
    );
    const f = await ingestFailure(uri);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('EmptyDataset');
    expect(f.message).toContain('empty.parquet');
    await expectNothingWritten();
  });

  it('unknown URI scheme → UnsupportedUri', async () => {
    const f = await ingestFailure('ftp://example.invalid/corpus.parquet');
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('UnsupportedUri');
    expect(f.message).toContain('ftp://example.invalid/corpus.parquet');
    await expectNothingWritten();
  });

  it('a URI that escapes the store → UriRefused, also when the ".." is percent-encoded', async () => {
    // A private file beside the store: outside every allowed root (the store and inputs/ beside it).
    const privateDir = join(dirname(store.dir), `private-${randomUUID()}`);
    mkdirSync(privateDir);
    writeFileSync(join(privateDir, 'x.jsonl'), '{"id":"secret","group":"g","text":"private"}\n');
    const uris = [
      `${store.root}/inputs/../../../etc/passwd`,
      `${store.root}/inputs/%2E%2E/%2E%2E/${basename(privateDir)}/x.jsonl`,
      `file://${privateDir}/x.jsonl`,
      `${privateDir}/x.jsonl`,
      `file://${privateDir}/absent.jsonl`,
    ];
    const messages: string[] = [];
    for (const uri of uris) {
      const f = await ingestFailure(uri);
      expect(f.nonRetryable).toBe(true);
      expect(f.type).toBe('UriRefused');
      expect(f.message).toContain('source.uri');
      messages.push(f.message.replace(uri, 'URI'));
      await expectNothingWritten();
    }
    // One message whether the file exists or not: the refusal cannot probe the host.
    expect(new Set(messages).size).toBe(1);
  });

  it('a symlink in the store to a private file → UriRefused, nothing read or written', async () => {
    const privateDir = join(dirname(store.dir), `private-${randomUUID()}`);
    mkdirSync(privateDir);
    writeFileSync(join(privateDir, 'x.jsonl'), '{"id":"secret","group":"g","text":"private"}\n');
    symlinkSync(join(privateDir, 'x.jsonl'), join(store.dir, 'inputs', 'link.jsonl'));
    const f = await ingestFailure(`${store.root}/inputs/link.jsonl`);
    expect(f.type).toBe('UriRefused');
    expect(f.message).toContain('source.uri');
    await expectNothingWritten();
  });

  it('an S3 bucket that is not listed in RETORT_INPUT_ROOTS → UriRefused', async () => {
    const f = await ingestFailure('s3://not-listed-bucket/corpus.parquet');
    expect(f.type).toBe('UriRefused');
    await expectNothingWritten();
  });

  it('missing object → DatasetNotFound naming it', async () => {
    const uri = `${store.root}/inputs/missing.parquet`;
    const f = await ingestFailure(uri);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('DatasetNotFound');
    expect(f.message).toContain('missing.parquet');
    await expectNothingWritten();
  });

  it('JSONL with a non-string field → DatasetSchemaMismatch naming field, file and line', async () => {
    const uri = file(
      'bad.jsonl',
      '{"id":"a","group":"g","text":"hello"}\n{"id":"b","group":"g","text":42}\n',
    );
    const f = await ingestFailure(uri);
    expect(f.type).toBe('DatasetSchemaMismatch');
    expect(f.message).toMatch(/"text".*bad\.jsonl, line 2/);
    await expectNothingWritten();
  });

  it('invalid workflow input → InvalidPipelineInput naming the field, once (no retries)', async () => {
    const id = `bad-${randomUUID()}`;
    const f = await ingestFailure('file:///x.parquet', { ctx: 3 }, id);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toContain('"ctx"');
    // Refused runs are still findable by pipeline, stage and dataset in the Web UI.
    const attrs = (await client.workflow.getHandle(id).describe()).typedSearchAttributes;
    expect(attrs.get(RetortPipeline)).toBe('ingestCorpus');
    expect(attrs.get(RetortStage)).toBe('invalid-input');
    expect(attrs.get(RetortDataset)).toBe('bad');
  });

  it('a 3,000-character dataset → InvalidPipelineInput naming "dataset", not a server termination', async () => {
    const f = await ingestFailure(file('ok.jsonl', '{"id":"a","group":"g","text":"t"}\n'), {
      dataset: 'd'.repeat(3000),
    });
    expect(f.type).toBe('InvalidPipelineInput');
    expect(f.message).toContain('"dataset"');
    // distillDataset's own schema has no length bound: the workflow-side backstop catches it.
    const taskQueue = uniqueQueue('long-name');
    const { runUntil } = await startWorkers(store, taskQueue);
    const err = await runUntil(() =>
      client.workflow
        .execute('distillDataset', {
          taskQueue,
          workflowId: `long-${randomUUID()}`,
          args: [{ dataset: 'd'.repeat(3000), profile: 'test' }],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidPipelineInput');
    expect(cause.message).toContain('"dataset": at most 100 characters (got 3000)');
    await expectNothingWritten();
  });

  it('a non-UTF-8 JSONL → CorruptDataset naming the line', async () => {
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"id":"a","group":"g","text":"ok"}\n{"id":"b","group":"g","text":"caf'),
      0xe9,
      ...new TextEncoder().encode('"}\n'),
    ]);
    const f = await ingestFailure(file('latin1.jsonl', bytes));
    expect(f.type).toBe('CorruptDataset');
    expect(f.message).toMatch(/latin1\.jsonl, line 2: not valid UTF-8/);
    await expectNothingWritten();
  });

  it('a good user corpus (JSONL) is accepted, so the failures above are about the data', async () => {
    const lines = Array.from({ length: 60 }, (_x, i) =>
      JSON.stringify({ id: `d${i}`, group: i % 2 ? 'odd' : 'even', text: `document ${i} `.repeat(40) }),
    );
    const uri = file('good.jsonl', lines.join('\n'));
    const taskQueue = uniqueQueue('good');
    const { runUntil } = await startWorkers(store, taskQueue);
    const result = await runUntil(() =>
      client.workflow.execute('ingestCorpus', {
        taskQueue,
        workflowId: `good-${randomUUID()}`,
        args: [{ dataset: 'good', source: { uri }, ctx: 32, profile: 'test' }],
      }),
    );
    expect(result.groups.map((g: { group: string }) => g.group)).toEqual(['even', 'odd']);
  });
});
