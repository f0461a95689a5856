// mixAioli's baselines and Aioli's restricted mode on the real dev server with a tiny LM: DoReMi
// (its reference model trained by the workflow itself), Skill-It (its graph learned from one-hot runs),
// restricted initial proportions followed by Aioli, all through the same round loop; bad method names
// and bad proportions fail as InvalidPipelineInput naming the field.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { readHistoryRows } from '../../activities/aioli-history.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { MixAioliInput, MixAioliResult } from '../../schemas/aioli.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { connectClient, startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';
import { writeTokenTable } from '../support/training-fixtures.js';

let client: Client;
let connection: Connection;
beforeAll(async () => ({ client, connection } = await connectClient()));
afterAll(async () => connection?.close());

const GROUPS = ['abc', 'pq', 'xyz'];
const tables = {
  abc: { rows: 12, alphabet: 'abc' },
  pq: { rows: 12, alphabet: 'pq' },
  xyz: { rows: 12, alphabet: 'xyzwv' },
};

const input = (train: ArtifactRef, val: ArtifactRef, extra: Record<string, unknown> = {}): MixAioliInput =>
  ({
    training: {
      model: { kind: 'lm', config: { layers: 1, dModel: 16, heads: 2, mlpRatio: 2 } },
      data: { train, eval: val },
      optimizer: { kind: 'adamw', weightDecay: 0.01, clipNorm: 1 },
      schedule: { kind: 'rewarmedCosine', maxLr: 0.02, warmupFraction: 0.1 },
      batchSize: 8,
      totalSteps: 24,
      seed: 5,
      profile: 'test',
    },
    groups: GROUPS,
    aioli: { roundSteps: 12, sweeps: 2, stepsPerInterval: 1, eta: 1 },
    valRowsPerGroup: 6,
    ...extra,
  }) as MixAioliInput;

async function setup(name: string) {
  const store = tempFileStore(name);
  const train = await writeTokenTable(store, tables, 16, 1);
  const val = await writeTokenTable(store, tables, 16, 2);
  const taskQueue = uniqueQueue(name);
  const { runUntil } = await startWorkers(store, taskQueue, 'all');
  const run = (args: MixAioliInput) =>
    client.workflow.execute('mixAioli', {
      taskQueue,
      workflowId: `${name}-${randomUUID()}`,
      args: [args],
    }) as Promise<MixAioliResult>;
  const history = async (done: MixAioliResult) =>
    readHistoryRows(await new ArtifactStore(store).read(done.history), done.history.uri);
  return { train, val, taskQueue, runUntil, run, history };
}

const sum = (v: Record<string, number>) => Object.values(v).reduce((a, b) => a + b, 0);

describe('mixAioli methods', () => {
  it('doremi: trains its reference model first, then steps the mixture on excess losses', async () => {
    const { train, val, runUntil, run, history } = await setup('aioli-doremi');
    const done = await runUntil(() => run(input(train, val, { method: 'doremi' })));
    expect(done).toMatchObject({ method: 'doremi', step: 24, rounds: 2 });
    expect(sum(done.proportions)).toBeCloseTo(1, 12);
    const rows = await history(done);
    const reference = GROUPS.map((g) => rows.find((r) => r.key === `doremi_reference/${g}`)?.value);
    // The reference is a trained model: below the untrained ln 256 ≈ 5.55 on every group.
    for (const v of reference) expect(v).toBeLessThan(5);
    // Round 1's mixture is DoReMi's step from uniform: ∝ exp(μ · max(L − L_ref, 0)), smoothed.
    const at = (step: number, key: string) => rows.find((r) => r.step === step && r.key === key)!.value;
    const excess = GROUPS.map((g, i) => Math.max(at(0, `val_loss/${g}`) - reference[i]!, 0));
    const w = excess.map((e) => Math.exp(e) / 3);
    const p = w.map((x) => 0.999 * (x / w.reduce((a, b) => a + b, 0)) + 0.001 / 3);
    GROUPS.forEach((g, i) => expect(at(0, `proportion/${g}`)).toBeCloseTo(p[i]!, 9));
  }, 120_000);

  it('skillit: learns its graph from one-hot runs, then mixes through the same rounds', async () => {
    const { train, val, runUntil, run, history } = await setup('aioli-skillit');
    const done = await runUntil(() =>
      run(input(train, val, { method: 'skillit', skillit: { graphSteps: 4 } })),
    );
    expect(done).toMatchObject({ method: 'skillit', step: 24, rounds: 2 });
    const rows = await history(done);
    const graph = GROUPS.flatMap((gi) =>
      GROUPS.map((gj) => rows.find((r) => r.key === `skillit_graph/${gi}/${gj}`)?.value),
    );
    expect(graph.every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
    // Training on a group lowers its own loss the most: the graph's diagonal is its row maximum.
    GROUPS.forEach((_g, i) =>
      expect(graph[i * 3 + i]).toBe(Math.max(...(graph.slice(i * 3, i * 3 + 3) as number[]))),
    );
  }, 120_000);

  it('restricted mode: the given proportions for S_init steps, then Aioli from uniform weights', async () => {
    const { train, val, runUntil, run, history } = await setup('aioli-restricted');
    const prior = { abc: 0.75, pq: 0.125, xyz: 0.125 };
    const done = await runUntil(() =>
      run(
        input(train, val, {
          training: { ...input(train, val).training, totalSteps: 36 },
          initialProportions: prior,
          priorSteps: 12,
        }),
      ),
    );
    expect(done).toMatchObject({ method: 'aioli', step: 36, rounds: 3 });
    const rows = await history(done);
    const at = (step: number, key: string) => rows.find((r) => r.step === step && r.key === key)?.value;
    for (const g of GROUPS) expect(at(0, `proportion/${g}`)).toBeCloseTo(prior[g as keyof typeof prior], 12);
    // The Aioli rounds estimate A (normalised entries sum to 1) and do not carry p_init over.
    const aNorm = GROUPS.flatMap((gi) => GROUPS.map((gj) => at(12, `a_normalized/${gi}/${gj}`)!));
    expect(aNorm.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const p12 = GROUPS.map((g) => at(12, `proportion/${g}`)!);
    expect(Math.max(...p12)).toBeLessThan(0.75);
  }, 120_000);

  it('bad method or proportions → InvalidPipelineInput naming the field', async () => {
    const { train, val, taskQueue, runUntil } = await setup('aioli-methods-bad');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ method: 'dorimi' }, /mixAioli input field "method": .*(doremi|skillit)/],
      [
        { initialProportions: { abc: 0.5, pq: 0.5, xyz: 0.2 } },
        /mixAioli input field "initialProportions": .*sum to 1\.2/,
      ],
      [
        { initialProportions: { abc: 0.5, pq: 0.5, web: 0 } },
        /mixAioli input field "initialProportions": .*unknown group "web"/,
      ],
      [
        { initialProportions: { abc: 0.5, pq: 0.25, xyz: 0.25 }, priorSteps: 5 },
        /mixAioli input field "priorSteps": .*divisible by roundSteps/,
      ],
      [
        { method: 'doremi', initialProportions: { abc: 0.5, pq: 0.25, xyz: 0.25 } },
        /mixAioli input field "initialProportions": restricted mode applies to method "aioli"/,
      ],
      [
        { objectiveGroups: ['abc', 'web'] },
        /mixAioli input field "objectiveGroups": unknown group\(s\) "web"/,
      ],
      [
        { method: 'skillit', skillit: { graph: [[1, 0]] } },
        /mixAioli input field "skillit.graph": must be 3×3/,
      ],
    ];
    await runUntil(async () => {
      for (const [extra, message] of cases) {
        const err = await client.workflow
          .execute('mixAioli', {
            taskQueue,
            workflowId: `aioli-bad-${randomUUID()}`,
            args: [input(train, val, extra)],
          })
          .catch((e: unknown) => e);
        expect(err, JSON.stringify(extra)).toBeInstanceOf(WorkflowFailedError);
        const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
        expect(cause.type).toBe('InvalidPipelineInput');
        expect(cause.message).toMatch(message);
      }
    });
  }, 60_000);
});
