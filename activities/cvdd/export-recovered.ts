// CV-DD: the final images of every slot → one self-describing `distilled_images` table (memoized,
// all-or-nothing; storage/distilled-table.ts) with the committee's soft labels PER IMAGE (§5.3 relabel
// of the un-augmented image, as probabilities softmax(z / T) at T = klTemperature, so the table alone
// trains a student), the member checkpoints as refs by sha256 (online BSSL relabelling), plus the §8.5
// per-voter report at the final images.
import * as tf from '@tensorflow/tfjs-core';
import { recoveryReport, relabelWeights, relabelWithCommittee } from '../../ml/methods/cvdd/index.js';
import type { ExportRecoveredInput, ExportRecoveredResult } from '../../schemas/cvdd.js';
import { DISTILLED_IMAGES, contractFingerprint } from '../../schemas/tables.js';
import { encodeParquet, decodeParquet } from '../../storage/parquet.js';
import { buildDistilledTable, probabilityRows, sourceImageMeta } from '../../storage/distilled-table.js';
import { memoized } from '../memo.js';
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
      activity: 'exportRecovered@2',
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
      const weights = relabelWeights(committee, config);
      const softLabels = new Float32Array(input.slots.length * config.classes * config.classes);
      for (const [j, ref] of input.slots.entries()) {
        const { tensors, meta } = decodeCheckpoint<SlotMeta>(await checkpoints.load(ref), ref.uri, 'slot');
        const images = tensors.images as tf.Tensor4D;
        const voters = meta.voters.map((i) => committee[i]!);
        const report = recoveryReport(images, meta.labels, voters, meta.weights, config);
        const relabelled = relabelWithCommittee(images, committee, weights, config);
        const z = relabelled.logits.dataSync() as Float32Array;
        tf.dispose([relabelled.logits, relabelled.probabilities]);
        softLabels.set(
          probabilityRows(z, config.classes, config.klTemperature),
          labels.length * config.classes,
        );
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
      const n = labels.length;
      const source = sourceImageMeta(
        decodeParquet(await artifacts.read(input.train), input.train.uri),
        c,
        input.train.uri,
      );
      const bytes = encodeParquet(
        buildDistilledTable(
          {
            ids,
            labels: Int32Array.from(labels),
            pixels: pixels.subarray(0, n * size),
            softLabels: softLabels.subarray(0, n * config.classes),
            meta: {
              method: 'cvdd',
              ipc: config.ipc,
              classes: config.classes,
              h,
              w,
              c,
              ...source,
              labelKind: 'soft',
              temperature: config.klTemperature,
              extra: {
                // Refs by content hash, never a store location (DESIGN.md §2).
                'retort.committee': JSON.stringify(
                  input.committee.map((m) => ({
                    id: m.id,
                    prior: m.prior,
                    priorSource: m.priorSource ?? 'validation',
                    checkpoint_sha256: m.checkpoint.sha256,
                  })),
                ),
                'retort.relabel': JSON.stringify({
                  bn: config.relabelBnMode,
                  groups: config.bsslGroups,
                  weights,
                }),
                'retort.recover': JSON.stringify(config),
                'retort.voters': JSON.stringify(slots.map((s) => ({ voters: s.voters, weights: s.weights }))),
              },
            },
          },
          input.train.uri,
        ),
      );
      return {
        outputs: [
          {
            output: 'distilled',
            bytes,
            kind: 'table',
            format: 'parquet',
            rows: labels.length,
            schema: contractFingerprint(DISTILLED_IMAGES),
          },
        ],
        result: (refs) => ({ distilled: refs.distilled!, slots }),
      };
    });
  } finally {
    lease.release();
  }
}
