// Trajectory matching: the final checkpoint → `distilled_images` and `distill_log` tables (spec §2.3,
// §2.4; memoized).
import { syntheticSetSize, trajectoryMatchingMethod } from '../../ml/methods/trajectory-matching/index.js';
import {
  DISTILL_LOG,
  type DistillLogRow,
  type ExportDistilledInput,
  type ExportDistilledResult,
} from '../../schemas/trajectory-matching.js';
import { DISTILLED_IMAGES, contractFingerprint } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { encodeParquet } from '../../storage/parquet.js';
import { memoized } from '../memo.js';
import { type TrajectoryMatchingDeps } from './deps.js';
import { resolveTm } from './config.js';
import { type DistillCheckpointMeta, arraysToState, decodeArrays } from './checkpoint.js';

/** Losses of the first and last `n` iterations (the activity result's quick convergence check). */
function summaryLosses(log: readonly DistillLogRow[], n: number) {
  return { first: log.slice(0, n).map((r) => r.loss), last: log.slice(-n).map((r) => r.loss) };
}

/** The final distillation checkpoint → `distilled_images` and `distill_log` tables (spec §2.3, §2.4). */
export async function exportDistilled(
  deps: TrajectoryMatchingDeps,
  input: ExportDistilledInput,
): Promise<ExportDistilledResult> {
  const { artifacts, checkpoints } = deps;
  const config = resolveTm(input.config);
  return memoized(
    artifacts,
    {
      activity: 'exportDistilled@1',
      inputs: [input.checkpoint.sha256, input.train.sha256, ...input.trajectories.map((r) => r.sha256)],
      config: {},
    },
    input.cache,
    async () => {
      const { arrays, meta: m } = decodeArrays<DistillCheckpointMeta>(
        await checkpoints.load(input.checkpoint),
        input.checkpoint.uri,
      );
      const s = arraysToState(arrays, m.iteration, input.checkpoint.uri);
      const { net } = config;
      const n = syntheticSetSize(config);
      const k = net.classes;
      const synLr = config.synLrParametrisation === 'log' ? Math.exp(s.synLr) : s.synLr;
      const method = trajectoryMatchingMethod(config);
      const soft = s.labelLogits ?? new Float32Array(n * k);
      if (!s.labelLogits) s.classes.forEach((y, i) => (soft[i * k + y] = 1));
      const distilled = buildTable(
        DISTILLED_IMAGES,
        {
          id: Array.from({ length: n }, (_x, i) => `syn-${String(i).padStart(5, '0')}`),
          label: s.classes,
          pixels: { flat: s.pixels, size: net.h * net.w * net.c },
          soft_label: { flat: soft, size: k },
        },
        {
          h: String(net.h),
          w: String(net.w),
          c: String(net.c),
          classes: String(k),
          /** 'soft': soft_label holds learned logits (DATM); 'hard': one-hot of `label`. */
          label_kind: s.labelLogits ? 'soft' : 'hard',
          'retort.syn_lr': String(synLr),
          'retort.method': method,
          'retort.ipc': String(config.ipc),
          'retort.config': JSON.stringify(config),
          'retort.source_hash': input.train.sha256,
          'retort.iterations': String(m.iteration),
        },
      );
      const log = m.log;
      const logTable = buildTable(DISTILL_LOG, {
        iteration: Int32Array.from(log, (r) => r.iteration),
        expert: Int32Array.from(log, (r) => r.expert),
        start_epoch: Int32Array.from(log, (r) => r.startEpoch),
        upper_bound: Int32Array.from(log, (r) => r.upperBound),
        loss: Float64Array.from(log, (r) => r.loss),
        syn_lr: Float64Array.from(log, (r) => r.synLr),
        skipped: Int32Array.from(log, (r) => (r.skipped ? 1 : 0)),
      });
      const losses = summaryLosses(log, 10);
      return {
        outputs: [
          {
            output: 'distilled',
            bytes: encodeParquet(distilled),
            kind: 'table',
            format: 'parquet',
            rows: n,
            schema: contractFingerprint(DISTILLED_IMAGES),
          },
          {
            output: 'log',
            bytes: encodeParquet(logTable),
            kind: 'table',
            format: 'parquet',
            rows: log.length,
            schema: contractFingerprint(DISTILL_LOG),
          },
        ],
        result: (refs) => ({
          distilled: refs.distilled!,
          log: refs.log!,
          synLr,
          iterations: m.iteration,
          method,
          firstLosses: losses.first,
          lastLosses: losses.last,
        }),
      };
    },
  );
}
