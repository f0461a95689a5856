// mixAioli on the real dev server with a tiny LM: the `setMixture` update rejected on a bad mixture
// (not summing to 1, unknown group) with a clear message and accepted on a good one, which is the
// next round's mixture; `setEta` validated and applied; the `progress` query; continue-as-new
// carrying the round state; the history table; bad input failing as InvalidPipelineInput.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Client,
  type Connection,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { readHistoryRows } from '../../activities/aioli-history.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import { progressQuery } from '../../schemas/messages.js';
import {
  type MixAioliInput,
  type MixAioliProgress,
  type MixAioliResult,
  setEtaUpdate,
  setMixtureUpdate,
} from '../../schemas/aioli.js';
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

const input = (train: ArtifactRef, val: ArtifactRef, extra: Partial<MixAioliInput> = {}): MixAioliInput => ({
  training: {
    model: { kind: 'lm', config: { layers: 1, dModel: 16, heads: 2, mlpRatio: 2 } },
    data: { train, eval: val },
    optimizer: { kind: 'adamw', weightDecay: 0.01, clipNorm: 1 },
    schedule: { kind: 'rewarmedCosine', maxLr: 0.02, warmupFraction: 0.1 },
    batchSize: 8,
    totalSteps: 48, // 4 rounds of U = 12: LearnParams k·m·s = 1·3·2 = 6 steps, main phase 6
    seed: 3,
    profile: 'test',
  },
  groups: GROUPS,
  aioli: { roundSteps: 12, sweeps: 1, stepsPerInterval: 2, eta: 1 },
  valRowsPerGroup: 6,
  roundsPerRun: 2,
  ...extra,
});

async function progressOf(handle: { query: (q: typeof progressQuery) => Promise<Record<string, unknown>> }) {
  return (await handle.query(progressQuery)) as unknown as MixAioliProgress;
}

async function waitFor<T>(what: string, poll: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await poll();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The update's rejection message (validator errors come back as the failure's cause). */
async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the update was accepted').toBeInstanceOf(WorkflowUpdateFailedError);
  const e = err as WorkflowUpdateFailedError;
  return `${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
}

describe('mixAioli', () => {
  it('setMixture: rejected when invalid, accepted otherwise and trained in the next round; setEta; progress; history', async () => {
    const store = tempFileStore('mix-aioli');
    const train = await writeTokenTable(store, tables, 16, 1);
    const val = await writeTokenTable(store, tables, 16, 2);
    const taskQueue = uniqueQueue('mix-aioli');
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const workflowId = `mix-aioli-${randomUUID()}`;
    const result = await runUntil(async () => {
      const handle = await client.workflow.start('mixAioli', {
        taskQueue,
        workflowId,
        args: [input(train, val)],
      });
      // Steer during round 0 (its LearnParams probes take a while): the override applies to round 1.
      const first = await waitFor('round 0 to start', async () => {
        const p = await progressOf(handle).catch(() => undefined);
        return p && p.stage === 'train' && p.step > 0 ? p : undefined;
      });
      expect(first).toMatchObject({ method: 'aioli', rounds: 4, total: 48, eta: 1 });
      expect(Object.keys(first.proportions)).toEqual(GROUPS);

      const notSimplex = await rejection(
        handle.executeUpdate(setMixtureUpdate, { args: [{ mixture: { abc: 0.5, pq: 0.5, xyz: 0.2 } }] }),
      );
      expect(notSimplex).toMatch(/Invalid mixture: proportions sum to 1\.2, expected 1/);
      const unknown = await rejection(
        handle.executeUpdate(setMixtureUpdate, { args: [{ mixture: { abc: 0.5, pq: 0.25, web: 0.25 } }] }),
      );
      expect(unknown).toMatch(/unknown group "web" \(known: abc, pq, xyz\); missing group "xyz"/);
      const negative = await rejection(
        handle.executeUpdate(setMixtureUpdate, { args: [{ mixture: { abc: 1.2, pq: -0.2, xyz: 0 } }] }),
      );
      expect(negative).toMatch(/proportion for group "pq" is negative/);
      const badEta = await rejection(handle.executeUpdate(setEtaUpdate, { args: [{ eta: -1 }] }));
      expect(badEta).toMatch(/eta must be a finite number ≥ 0, got -1/);

      const wanted = { abc: 0.7, pq: 0.1, xyz: 0.2 };
      const accepted = await handle.executeUpdate(setMixtureUpdate, { args: [{ mixture: wanted }] });
      const etaAccepted = await handle.executeUpdate(setEtaUpdate, { args: [{ eta: 0.25 }] });
      expect(etaAccepted.appliesToRound).toBe(accepted.appliesToRound);
      expect(accepted.appliesToRound).toBeGreaterThanOrEqual(1);
      expect(accepted.appliesToRound).toBeLessThan(4);
      const pending = await progressOf(handle);
      // Pending until its round is planned (or already taken by it).
      if (pending.round < accepted.appliesToRound && pending.pendingMixture) {
        expect(pending.pendingMixture).toEqual(wanted);
      }
      // Visible in that round's proportions once it completes.
      const after = await waitFor('the steered round', async () => {
        const p = await progressOf(handle).catch(() => undefined);
        return p && p.round === accepted.appliesToRound + 1 ? p : undefined;
      });
      for (const g of GROUPS) expect(after.proportions[g]).toBeCloseTo(wanted[g as keyof typeof wanted], 12);
      expect(after.eta).toBe(0.25);
      expect(after.runKey).toMatch(/^aioli-[0-9a-f]{16}-x[0-9a-f]{16}$/);
      const done = (await handle.result()) as MixAioliResult;
      const final = await progressOf(handle);
      expect(final).toMatchObject({ stage: 'done', round: 4, step: 48 });
      return { done, appliesTo: accepted.appliesToRound, wanted, firstRunId: handle.firstExecutionRunId };
    });

    const { done, appliesTo, wanted } = result;
    expect(done).toMatchObject({ method: 'aioli', step: 48, rounds: 4 });
    expect(done.interventions).toEqual([
      { round: appliesTo, kind: 'setMixture', value: wanted },
      { round: appliesTo, kind: 'setEta', value: 0.25 },
    ]);
    expect(Object.keys(done.val)).toEqual(GROUPS);
    // The history table: one block per round (step = the round's first step), across continue-as-new.
    const rows = readHistoryRows(await new ArtifactStore(store).read(done.history), done.history.uri);
    const at = (step: number, key: string) => rows.find((r) => r.step === step && r.key === key)?.value;
    expect(rows.filter((r) => r.key === 'round').map((r) => r.value)).toEqual([0, 1, 2, 3]);
    for (let t = 0; t < 4; t++) {
      const step = 12 * t;
      const p = GROUPS.map((g) => at(step, `proportion/${g}`)!);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      for (const g of GROUPS) expect(at(step, `val_loss/${g}`)).toBeGreaterThan(0);
      // A per round: m×m raw and normalised (normalised entries sum to 1).
      const aNorm = GROUPS.flatMap((gi) => GROUPS.map((gj) => at(step, `a_normalized/${gi}/${gj}`)!));
      expect(aNorm.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(at(step, 'override')).toBe(t === appliesTo ? 1 : 0);
      expect(at(step, 'eta')).toBe(t >= appliesTo ? 0.25 : 1);
      if (t === appliesTo)
        GROUPS.forEach((g, i) => expect(p[i]).toBeCloseTo(wanted[g as keyof typeof wanted], 12));
    }
    // Losses went down from the untrained model (ln 256 ≈ 5.55) over the run.
    for (const g of GROUPS) expect(done.val[g]).toBeLessThan(at(0, `val_loss/${g}`)! - 0.5);
    // Continue-as-new every 2 rounds: the first run handed over, the last one completed.
    const firstRun = await client.workflow.getHandle(workflowId, result.firstRunId).describe();
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    const lastRun = await client.workflow.getHandle(workflowId).describe();
    expect(lastRun.status.name).toBe('COMPLETED');
    expect(lastRun.runId).not.toBe(result.firstRunId);
    // A standalone run commits its own report (proportions, losses and Â per round), named in the result.
    expect(done.reportHtml).toMatchObject({ kind: 'report', format: 'html' });
    const html = new TextDecoder().decode(await new ArtifactStore(store).read(done.reportHtml!));
    for (const name of ['proportions', 'val-loss', 'a-hat']) expect(html).toContain(`data-plot="${name}"`);
  }, 120_000);

  it('bad input: a mixture in the training spec, a non-divisible schedule → InvalidPipelineInput naming the field', async () => {
    const store = tempFileStore('mix-aioli-bad');
    const train = await writeTokenTable(store, tables, 16, 1);
    const taskQueue = uniqueQueue('mix-aioli-bad');
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    await runUntil(async () => {
      const cases: [MixAioliInput, RegExp][] = [
        [
          (() => {
            const i = input(train, train);
            (i.training.data as { mixture?: Record<string, number> }).mixture = { abc: 1 };
            return i;
          })(),
          /mixAioli input field "training.data.mixture": must be absent/,
        ],
        [
          input(train, train, { aioli: { roundSteps: 10, sweeps: 1, stepsPerInterval: 2 } }),
          /totalSteps \(S = 48\) must be divisible by roundSteps \(U = 10\)/,
        ],
        [
          input(train, train, { aioli: { roundSteps: 12, sweeps: 2, stepsPerInterval: 2 } }),
          /k·m·s = 2·3·2 = 12 steps per round, which must be < roundSteps/,
        ],
      ];
      for (const [bad, message] of cases) {
        const err = await client.workflow
          .execute('mixAioli', { taskQueue, workflowId: `mix-aioli-bad-${randomUUID()}`, args: [bad] })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
        expect(cause.type).toBe('InvalidPipelineInput');
        expect(cause.message).toMatch(message);
      }
    });
  }, 60_000);
});
