// Trajectory matching, spec §4: one expert trained an epoch at a time, θ_e checkpointed after every
// epoch (checkpoints/<runKey>/expert-<k>/step-<e>, LATEST), so a retry resumes at the last finished
// epoch; the result is its `trajectories` table (epochs 0..E, memoized).
import {
  type ImageSet,
  evaluateConvNet,
  trainExpertTrajectory,
} from '../../ml/methods/trajectory-matching/training.js';
import { convNetLayout } from '../../ml/models/convnet.js';
import { deriveSeed } from '../../ml/train/rng.js';
import { type TrainExpertInput, type TrainExpertResult } from '../../schemas/trajectory-matching.js';
import { TRAJECTORIES, contractFingerprint } from '../../schemas/tables.js';
import { buildTable } from '../../storage/arrow-tables.js';
import { encodeParquet } from '../../storage/parquet.js';
import { countClasses } from '../images.js';
import { memoized } from '../memo.js';
import { asConfigError, incompatible, lossDiverged } from '../failures.js';
import { saveCheckpoint } from '../resumable-chunk.js';
import { activityContext, yieldToEventLoop } from '../heartbeat.js';
import { type TrajectoryMatchingDeps } from './deps.js';
import { checkShape, resolveNet } from './config.js';
import { CHECKPOINT_VERSION, decodeArrays, encodeArrays, identityHash } from './checkpoint.js';

/** One expert's trajectory θ_0..θ_E (spec §4), checkpointed per epoch; memoized as a table. */
export async function trainExpert(
  deps: TrajectoryMatchingDeps,
  input: TrainExpertInput,
): Promise<TrainExpertResult> {
  const { artifacts, checkpoints, images, readTest } = deps;
  const net = resolveNet(input.net);
  const profile = input.experts;
  const k = input.expert;
  const runKey = `${input.runKey}/expert-${k}`;
  const identity = identityHash({ train: input.train.sha256, net, profile, expert: k, seed: input.seed });
  const ctx = activityContext();
  let resumedFromEpoch: number | null = null;
  let testAccuracy: number | null = null;
  let reused = true;
  const result = await memoized(
    artifacts,
    {
      activity: 'trainExpert@1',
      inputs: [input.train.sha256, input.test?.sha256 ?? ''],
      config: { net, profile, expert: k },
      seed: input.seed,
    },
    input.cache,
    async () => {
      reused = false;
      const data = await images(input.train);
      checkShape(net, data);
      countClasses(data.labels, data.ids, net.classes, data.uri);
      const set: ImageSet = { images: data.pixels, labels: data.labels };
      const seed = deriveSeed(input.seed, 'expert', k);
      // Resume: every epoch up to LATEST must be committed (each holds its own θ_e).
      const params: Float32Array[] = [];
      let velocity: Float32Array | undefined;
      const latest = await checkpoints.readLatest(runKey).catch(() => undefined);
      if (latest) {
        for (let e = 0; e <= latest.step; e++) {
          const ref = await checkpoints.find(runKey, e);
          if (!ref) break;
          const { arrays, meta } = decodeArrays(await checkpoints.load(ref), ref.uri);
          if (meta.identity !== identity)
            throw incompatible(
              `checkpoint ${ref.uri} belongs to another expert run (checkpoints/${runKey} reused with other inputs)`,
            );
          params.push(arrays.params as Float32Array);
          velocity = arrays.velocity as Float32Array | undefined;
        }
        if (params.length > 1) resumedFromEpoch = params.length - 1;
        ctx?.log.info(`trainExpert ${runKey}: resuming after epoch ${params.length - 1}`);
      }
      const save = async (
        epoch: number,
        theta: Float32Array,
        v: Float32Array | null,
        loss: number | null,
      ) => {
        const art = await encodeArrays(
          { params: theta, ...(v ? { velocity: v } : {}) },
          { version: CHECKPOINT_VERSION, kind: 'expert', identity, epoch, loss },
        );
        await saveCheckpoint(checkpoints, runKey, epoch, art);
      };
      if (params.length === 0) {
        const init = asConfigError('trainExpert', () =>
          trainExpertTrajectory(set, { ...profile, epochs: 0 }, net, seed),
        );
        params.push(init.params[0]!);
        await save(0, init.params[0]!, null, null);
      }
      for (let e = params.length - 1; e < profile.epochs; e++) {
        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        let info: { velocity: Float32Array | null; loss: number } = { velocity: null, loss: NaN };
        const r = asConfigError('trainExpert', () =>
          trainExpertTrajectory(set, { ...profile, epochs: e + 1 }, net, seed, {
            fromEpoch: e,
            ...(e > 0 ? { fromParams: params[e]! } : {}),
            ...(velocity ? { fromVelocity: velocity } : {}),
            onEpoch: (_ep, _theta, loss, i) => (info = { velocity: i.velocity, loss }),
          }),
        );
        const theta = r.params[r.params.length - 1]!;
        if (!theta.every(Number.isFinite))
          throw lossDiverged(`expert ${k} diverged in epoch ${e + 1} (lr ${profile.lr}, data ${data.uri})`);
        params.push(theta);
        velocity = info.velocity ?? undefined;
        await save(e + 1, theta, info.velocity, info.loss);
        ctx?.heartbeat({ expert: k, epoch: e + 1, of: profile.epochs, loss: info.loss });
        await yieldToEventLoop();
      }
      if (input.test) {
        const test = await images(input.test, readTest);
        testAccuracy = evaluateConvNet(net, params[profile.epochs]!, {
          images: test.pixels,
          labels: test.labels,
        }).accuracy;
      }
      const p = params[0]!.length;
      const flat = new Float32Array(params.length * p);
      params.forEach((theta, e) => flat.set(theta, e * p));
      const table = buildTable(
        TRAJECTORIES,
        {
          expert: new Int32Array(params.length).fill(k),
          epoch: Int32Array.from(params, (_x, e) => e),
          params: { flat, size: p },
        },
        {
          'retort.arch': JSON.stringify({ family: 'convnet', ...net }),
          'retort.param_layout': JSON.stringify(
            convNetLayout(net).map((s) => ({ name: s.name, shape: s.shape })),
          ),
          'retort.expert_train': JSON.stringify({
            ...profile,
            seed: input.seed,
            expert: k,
            expertSeed: seed,
          }),
        },
      );
      return {
        outputs: [
          {
            output: 'trajectory',
            bytes: encodeParquet(table),
            kind: 'trajectory',
            format: 'parquet',
            rows: params.length,
            schema: contractFingerprint(TRAJECTORIES),
          },
        ],
        result: (refs) => ({
          expert: k,
          trajectory: refs.trajectory!,
          epochs: profile.epochs,
          resumedFromEpoch: null,
          testAccuracy,
          reused: false,
        }),
      };
    },
  );
  return { ...result, resumedFromEpoch, reused };
}
