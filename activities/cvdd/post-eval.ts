// CV-DD §5.4 post-evaluation, one seed: a fresh student on the recovered set with KL on online
// committee soft labels (BSSL), or on IPC random real images with hard labels; test top-1 (memoized).
import { postEvaluate, randomRealIndices, subsetImages } from '../../ml/methods/cvdd/index.js';
import { deriveSeed } from '../../ml/train/rng.js';
import type { PostEvalCommitteeInput, PostEvalCommitteeResult } from '../../schemas/cvdd.js';
import { memoized } from '../memo.js';
import { type ImageData } from '../training-data.js';
import { configError, ipcExceedsClassSize } from '../failures.js';
import { activityContext, pacer } from '../heartbeat.js';
import { type CvddDeps } from './deps.js';
import { asImageSet, checkLabels, committeeArch, resolveCvddConfig } from './config.js';

/** One post-evaluation student (§5.4); memoized per (train, test, committee, settings, seed). */
export async function postEvalCommittee(
  deps: CvddDeps,
  input: PostEvalCommitteeInput,
): Promise<PostEvalCommitteeResult> {
  const { artifacts, readImages, readTest, leaseCommittee } = deps;
  const ctx = activityContext();
  const config = resolveCvddConfig(input.run);
  const method = input.subset ? 'random_real' : input.committee.length > 0 ? 'committee' : 'hard_labels';
  const identity = {
    activity: 'postEvalCommittee@1',
    inputs: [input.train.sha256, input.test.sha256, ...input.committee.map((m) => m.checkpoint.sha256)],
    config: { run: input.run, student: input.student, subset: input.subset ?? null },
    seed: input.seed,
  };
  return memoized(artifacts, identity, input.cache, async () => {
    const table = await readImages(input.train, input.run.classes);
    const test = (await readTest(input.test, 'images')) as ImageData;
    checkLabels(test, input.run.classes);
    if (test.h !== table.h || test.w !== table.w || test.c !== table.c)
      throw configError(
        `test table ${input.test.uri} is ${test.h}×${test.w}×${test.c}, train ${input.train.uri} is ${table.h}×${table.w}×${table.c}`,
      );
    let train = asImageSet(table);
    if (input.subset) {
      try {
        train = subsetImages(
          train,
          randomRealIndices(
            train.labels,
            input.run.classes,
            input.subset.ipc,
            deriveSeed(input.seed, 'random-real'),
          ),
        );
      } catch (err) {
        if (err instanceof RangeError)
          throw ipcExceedsClassSize(
            `field "ipc" = ${input.subset.ipc} with ${input.train.uri}: ${err.message}`,
          );
        throw err;
      }
    }
    const lease = input.committee.length
      ? await leaseCommittee(input.committee, table, input.run.classes)
      : null;
    try {
      const teacher = lease?.members ?? null;
      const beat = pacer(ctx);
      const r = await postEvaluate({
        train,
        teacher,
        student: committeeArch(input.student, table, input.run.classes),
        config,
        test: asImageSet(test),
        seed: input.seed,
        chunkSteps: 10,
        between: async (done, total) => {
          if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
          await beat({ method, seed: input.seed, step: done, of: total });
        },
      });
      return {
        outputs: [],
        result: () => ({
          method,
          seed: input.seed,
          accuracy: r.testAcc,
          steps: r.steps,
          finalLoss: r.finalLoss,
        }),
      };
    } finally {
      lease?.release();
    }
  });
}
