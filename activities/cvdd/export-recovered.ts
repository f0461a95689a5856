// CV-DD: the final images of every slot → one `images` table (memoized, all-or-nothing), plus the
// §8.5 per-voter report at the final images.
import * as tf from '@tensorflow/tfjs-core';
import { recoveryReport } from '../../ml/methods/cvdd/index.js';
import type { ExportRecoveredInput, ExportRecoveredResult } from '../../schemas/cvdd.js';
import { IMAGES, contractFingerprint } from '../../schemas/tables.js';
import { memoized } from '../memo.js';
import { imageTableBytes } from '../images.js';
import { type CvddDeps } from './deps.js';
import { resolveCvddConfig } from './config.js';
import { type SlotMeta, decodeCheckpoint } from './checkpoint.js';

/** The recovered slots → one `images` table, plus the per-voter report at the final images. */
export async function exportRecovered(
  deps: CvddDeps,
  input: ExportRecoveredInput,
): Promise<ExportRecoveredResult> {
  const { artifacts, checkpoints, readImages, leaseCommittee } = deps;
  const config = resolveCvddConfig(input.run);
  const table = await readImages(input.train, input.run.classes);
  const lease = await leaseCommittee(input.committee, table, input.run.classes);
  try {
    const committee = lease.members;
    const identity = {
      activity: 'exportRecovered@1',
      inputs: input.slots.map((s) => s.sha256),
      config: { committee: input.committee.map((m) => m.checkpoint.sha256), run: input.run },
      seed: input.seed,
    };
    return await memoized(artifacts, identity, input.cache, async () => {
      const { h, w, c } = table;
      const size = h * w * c;
      const pixels = new Float32Array(input.slots.length * config.classes * size);
      const labels: number[] = [];
      const ids: string[] = [];
      const slots: ExportRecoveredResult['slots'] = [];
      for (const [j, ref] of input.slots.entries()) {
        const { tensors, meta } = decodeCheckpoint<SlotMeta>(await checkpoints.load(ref), ref.uri, 'slot');
        const images = tensors.images as tf.Tensor4D;
        const voters = meta.voters.map((i) => committee[i]!);
        const report = recoveryReport(images, meta.labels, voters, meta.weights, config);
        pixels.set(images.dataSync(), labels.length * size);
        meta.labels.forEach((y) => {
          ids.push(`cvdd-s${j}-${ids.length}`);
          labels.push(y);
        });
        tf.dispose(Object.values(tensors));
        slots.push({
          slot: j,
          voters: voters.map((m) => m.id),
          weights: meta.weights,
          ce: report.ce,
          bn: report.bn,
          accuracy: report.accuracy,
        });
      }
      const bytes = imageTableBytes(
        { ids, labels: Int32Array.from(labels), pixels: pixels.subarray(0, labels.length * size) },
        { h, w, c },
        {
          method: 'cvdd',
          classes: String(config.classes),
          'retort.committee': JSON.stringify(
            input.committee.map((m) => ({
              id: m.id,
              prior: m.prior,
              priorSource: m.priorSource ?? 'validation',
              checkpoint: m.checkpoint.uri,
            })),
          ),
          'retort.recover': JSON.stringify(config),
          'retort.voters': JSON.stringify(slots.map((s) => ({ voters: s.voters, weights: s.weights }))),
        },
      );
      return {
        outputs: [
          {
            output: 'distilled',
            bytes,
            kind: 'table',
            format: 'parquet',
            rows: labels.length,
            schema: contractFingerprint(IMAGES),
          },
        ],
        result: (refs) => ({ distilled: refs.distilled!, slots }),
      };
    });
  } finally {
    lease.release();
  }
}
