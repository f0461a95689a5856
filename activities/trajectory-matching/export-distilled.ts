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
import {
  buildDistilledTable,
  oneHotRows,
  probabilityRows,
  sourceImageMeta,
} from '../../storage/distilled-table.js';
import { decodeParquet, encodeParquet } from '../../storage/parquet.js';
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
      activity: 'exportDistilled@2',
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
      // Self-describing (storage/distilled-table.ts): DATM's learned label logits L become their
      // probabilities softmax(L) (T = 1, what its students train on), MTT's hard labels one-hot rows;
      // normalisation and downsampling come from the source images table; pixels are clipped to it.
      const source = sourceImageMeta(
        decodeParquet(await artifacts.read(input.train), input.train.uri),
        net.c,
        input.train.uri,
      );
      const distilled = buildDistilledTable(
        {
          pixels: s.pixels,
          labels: s.classes,
          softLabels: s.labelLogits ? probabilityRows(s.labelLogits, k, 1) : oneHotRows(s.classes, k),
          meta: {
            method,
            ipc: config.ipc,
            classes: k,
            h: net.h,
            w: net.w,
            c: net.c,
            ...source,
            labelKind: s.labelLogits ? 'soft' : 'hard',
            temperature: 1,
            extra: {
              'retort.syn_lr': String(synLr),
              'retort.config': JSON.stringify(config),
              'retort.source_hash': input.train.sha256,
              'retort.iterations': String(m.iteration),
            },
          },
        },
        input.checkpoint.uri,
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
