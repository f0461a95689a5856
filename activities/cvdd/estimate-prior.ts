// CV-DD §4.2 prior of one member (settings.priorSource 'single_model'): every slot recovered by that
// member alone, relabelled by it, a student trained on the set; its validation top-1 in percent (memoized).
import { estimateSingleModelPrior } from '../../ml/methods/cvdd/index.js';
import { deriveSeed } from '../../ml/train/rng.js';
import type { EstimateCommitteePriorInput, EstimateCommitteePriorResult } from '../../schemas/cvdd.js';
import { memoized } from '../memo.js';
import { activityContext, pacer } from '../heartbeat.js';
import { type CvddDeps } from './deps.js';
import { committeeArch, resolveCvddConfig, splitValidation } from './config.js';

/** §4.2 prior of one member by its own single-model pipeline, on the validation hold-out (memoized). */
export async function estimateCommitteePrior(
  deps: CvddDeps,
  input: EstimateCommitteePriorInput,
): Promise<EstimateCommitteePriorResult> {
  const { artifacts, readImages, leaseCommittee } = deps;
  const ctx = activityContext();
  const config = resolveCvddConfig(input.run);
  const identity = {
    activity: 'estimateCommitteePrior@1',
    inputs: [input.train.sha256, input.member.checkpoint.sha256],
    config: { run: input.run, student: input.student, val: input.valPerClass },
    seed: input.seed,
  };
  return memoized(artifacts, identity, input.cache, async () => {
    const table = await readImages(input.train, input.run.classes);
    const { train, val } = splitValidation(table, input);
    const lease = await leaseCommittee([input.member], table, input.run.classes);
    try {
      const member = lease.members[0]!;
      const beat = pacer(ctx);
      const check = async (details: Record<string, unknown>) => {
        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        await beat({ member: input.member.id, ...details });
      };
      let steps = 0;
      const r = await estimateSingleModelPrior({
        member: member!,
        train,
        val,
        student: committeeArch(input.student, table, input.run.classes),
        config,
        seed: deriveSeed(input.seed, 'prior', input.member.index),
        afterSlot: (done, of) => check({ stage: 'recover', slot: done, of }),
        between: (done, total) => {
          steps = total;
          return check({ stage: 'student', step: done, of: total });
        },
      });
      return {
        outputs: [],
        result: () => ({ index: input.member.index, prior: r.prior, steps }),
      };
    } finally {
      lease.release();
    }
  });
}
