// Continual pre-training activities (specs/continual-pretraining-rewarm.md §6):
//   writeContinualMetrics (I/O queue): the loss curves and the LR of every step as a `history` table.
// (describeCheckpoint, on the compute queue, is in rewarm-compute.ts: it needs tfjs types.)
import { ApplicationFailure } from '@temporalio/common';
import { resolveRewarmedCosine, rewarmedCosineSchedule } from '../ml/methods/rewarm.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import type { CurvePoint } from '../schemas/rewarm.js';
import { HISTORY, contractFingerprint } from '../schemas/tables.js';
import type { ScheduleSpec } from '../schemas/training.js';
import { buildTable } from '../storage/arrow-tables.js';
import type { ArtifactStore } from '../storage/artifacts.js';
import { encodeParquet } from '../storage/parquet.js';
import { memoized } from './memo.js';

export interface WriteContinualMetricsInput {
  /** Identity of the run (its runKey): the table is memoized per run and curve. */
  runKey: string;
  curve: CurvePoint[];
  schedule: ScheduleSpec;
  /** Steps of this run; the `lr` key gets one row per step (spec §6 `lr_schedule`). */
  totalSteps: number;
  cache?: boolean;
}

/** LR of steps [0, n) of a run's schedule (the same resolution trainChunk uses). */
export function scheduleLrs(schedule: ScheduleSpec, n: number): number[] {
  if (schedule.kind === 'constant') return Array.from({ length: n }, () => schedule.lr);
  const { kind: _kind, totalSteps, ...rest } = schedule;
  const config = { ...rest, totalSteps: totalSteps ?? n };
  try {
    resolveRewarmedCosine(config);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `schedule ${JSON.stringify(schedule)}: ${(err as Error).message}`,
      'ConfigError',
    );
  }
  const lr = rewarmedCosineSchedule(config);
  return Array.from({ length: n }, (_x, s) => lr(s));
}

export function createRewarmIoActivities({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    /** Long-format history (DESIGN.md §2): keys upstream_val, downstream_val, train at each evaluation, lr per step. */
    async writeContinualMetrics(input: WriteContinualMetricsInput): Promise<ArtifactRef> {
      const identity = {
        activity: 'writeContinualMetrics@1',
        inputs: [input.runKey],
        config: { curve: input.curve, schedule: input.schedule, totalSteps: input.totalSteps },
      };
      return memoized(artifacts, identity, input.cache ?? true, async () => {
        const rows: { step: number; key: string; value: number }[] = [];
        for (const p of input.curve) {
          rows.push(
            { step: p.step, key: 'upstream_val', value: p.upstream },
            { step: p.step, key: 'downstream_val', value: p.downstream },
          );
          if (p.train !== null) rows.push({ step: p.step, key: 'train', value: p.train });
        }
        scheduleLrs(input.schedule, input.totalSteps).forEach((value, step) =>
          rows.push({ step, key: 'lr', value }),
        );
        const table = buildTable(HISTORY, {
          step: BigInt64Array.from(rows.map((r) => BigInt(r.step))),
          key: rows.map((r) => r.key),
          value: Float64Array.from(rows.map((r) => r.value)),
        });
        return {
          outputs: [
            {
              output: 'metrics',
              bytes: encodeParquet(table),
              kind: 'table',
              format: 'parquet',
              rows: rows.length,
              schema: contractFingerprint(HISTORY),
            },
          ],
          result: (refs) => refs.metrics!,
        };
      });
    },
  };
}
