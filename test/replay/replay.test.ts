// Histories of real runs (test/replay/histories, exported by scripts/export-histories.ts) must replay
// against the current workflow code: a non-deterministic change fails here before it breaks a
// running pipeline.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, inject } from 'vitest';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';

const dir = fileURLToPath(new URL('./histories/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const load = (f: string) => JSON.parse(readFileSync(dir + f, 'utf8')) as unknown;

describe('replay', () => {
  it('has histories to replay', () => expect(files.length).toBeGreaterThanOrEqual(2));

  it('covers every workflow type, a continue-as-new and an update', () => {
    type Event = {
      eventType: string;
      workflowExecutionStartedEventAttributes?: { workflowType: { name: string } };
    };
    const events = files.map((f) => (load(f) as { events: Event[] }).events);
    const recorded = new Set(
      events.map((e) => e[0]!.workflowExecutionStartedEventAttributes!.workflowType.name),
    );
    const index = readFileSync(fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)), 'utf8');
    const types = [...index.matchAll(/^export \{([^}]*)\}/gm)].flatMap((m) =>
      m[1]!.split(',').map((t) => t.trim()),
    );
    expect(types.length).toBeGreaterThanOrEqual(10);
    expect(types.filter((t) => !recorded.has(t))).toEqual([]);
    const all = events.flat().map((e) => e.eventType);
    expect(all).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    expect(all).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      load(file),
      `replay-${file}`,
    );
  });

  it('a variant with two activities swapped is caught as non-deterministic (negative control)', async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./variant/workflows.ts', import.meta.url)),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    });
    await expect(
      Worker.runReplayHistory({ workflowBundle: bundle }, load('ingest-corpus.json'), 'variant'),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
