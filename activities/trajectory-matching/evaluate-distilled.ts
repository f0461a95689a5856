// Trajectory matching, spec §8: one fresh student ConvNet trained on a distilled set, a random real
// subset or the full split → test accuracy; the workflow fans it out over students. The `plateau`
// protocol (default) is ml/eval's, the one every method and baseline is judged by; `fixed` is the
// paper's fixed-step SGD with the learned α.
import {
  type ImageSet,
  randomRealSubset,
  trainAndEvaluateStudent,
} from '../../ml/methods/trajectory-matching/training.js';
import { type EvaluationProfile } from '../../ml/methods/trajectory-matching/index.js';
import { type ConvNetConfig } from '../../ml/models/convnet.js';
import { DEFAULT_STUDENT_PROTOCOL, trainStudent } from '../../ml/eval/index.js';
import { deriveSeed } from '../../ml/train/rng.js';
import type { ArtifactRef } from '../../schemas/artifact.js';
import {
  type EvaluateDistilledInput,
  type EvaluateDistilledResult,
} from '../../schemas/trajectory-matching.js';
import { type ArtifactStore } from '../../storage/artifacts.js';
import { readDistilledTable } from '../../storage/distilled-table.js';
import { checkImagesPerClass, countClasses } from '../images.js';
import { memoized } from '../memo.js';
import { type ImageData } from '../training-data.js';
import { asConfigError, configError } from '../failures.js';
import { type TrajectoryMatchingDeps } from './deps.js';
import { checkShape, resolveNet } from './config.js';

/** What a student trains on: a distilled table (soft labels when it has them) or real images. */
async function studentSet(
  artifacts: ArtifactStore,
  input: EvaluateDistilledInput,
  net: ConvNetConfig,
  images: (ref: ArtifactRef) => Promise<ImageData>,
): Promise<{
  set: ImageSet & { labelLogits?: Float32Array | null };
  soft?: { probabilities: Float32Array; temperature: number } | null;
}> {
  const isDistilled = input.train.schema?.startsWith('distilled_images(') ?? false;
  if (isDistilled) {
    // Read as a user would: the table's own metadata (storage/distilled-table.ts).
    const t = readDistilledTable(await artifacts.read(input.train), input.train.uri);
    if (t.meta.h !== net.h || t.meta.w !== net.w || t.meta.c !== net.c || t.meta.classes !== net.classes)
      throw configError(
        `distilled table ${input.train.uri} is ${t.meta.h}×${t.meta.w}×${t.meta.c} with ${t.meta.classes} classes, the student ${net.h}×${net.w}×${net.c} with ${net.classes}`,
      );
    const soft = t.meta.labelKind === 'soft' && input.softLabels !== false;
    // The student trains on softmax(labelLogits); log p gives back p exactly.
    const logP = soft ? Float32Array.from(t.softLabels, (p) => Math.log(Math.max(p, 1e-30))) : null;
    return {
      set: { images: t.pixels, labels: t.labels, labelLogits: logP },
      soft: soft ? { probabilities: t.softLabels, temperature: t.meta.temperature } : null,
    };
  }
  const data = await images(input.train);
  checkShape(net, data);
  const counts = countClasses(data.labels, data.ids, net.classes, data.uri);
  const set: ImageSet = { images: data.pixels, labels: data.labels };
  if (!input.subset) return { set };
  checkImagesPerClass(counts, input.subset.ipc, 'ipc', data.uri);
  return {
    set: asConfigError('random real subset', () =>
      // Every student its own subset: the std is then over subsets (DESIGN.md §8).
      randomRealSubset(set, net, input.subset!.ipc, deriveSeed(input.seed, 'random-real', input.student)),
    ),
  };
}

/** One student trained on a distilled set / random real subset / full split, tested on `test`. */
export async function evaluateDistilled(
  deps: TrajectoryMatchingDeps,
  input: EvaluateDistilledInput,
): Promise<EvaluateDistilledResult> {
  const { artifacts, images, readTest } = deps;
  const net = resolveNet(input.net);
  const protocol = input.evaluation.protocol ?? 'fixed';
  return memoized(
    artifacts,
    {
      // The fixed-step evaluator keeps its old identity, so results cached before `protocol` still hit.
      activity: protocol === 'fixed' ? 'evaluateDistilled@2' : 'evaluateDistilled@3',
      inputs: [input.train.sha256, input.test.sha256],
      config: {
        net,
        evaluation: input.evaluation,
        lr: input.lr,
        student: input.student,
        subset: input.subset ?? null,
        softLabels: input.softLabels ?? true,
      },
      seed: input.seed,
    },
    input.cache,
    async () => {
      const test = await images(input.test, readTest);
      checkShape(net, test);
      const train = await studentSet(artifacts, input, net, images);
      const testSet = { images: test.pixels, labels: test.labels };
      const seed = deriveSeed(input.seed, 'student', input.student);
      const r = asConfigError('evaluateDistilled', () => {
        if (protocol === 'fixed')
          return trainAndEvaluateStudent(
            train.set,
            testSet,
            input.evaluation as EvaluationProfile,
            net,
            seed,
            input.lr,
          );
        // The protocol student is the run's own ConvNet; the learned α is not used (AdamW, ml/eval).
        const cap = input.evaluation.steps > 0 ? input.evaluation.steps : DEFAULT_STUDENT_PROTOCOL.maxSteps;
        const s = trainStudent(
          { family: 'convnet', config: net },
          { pixels: train.set.images, labels: train.set.labels, soft: train.soft ?? null },
          { pixels: test.pixels, labels: test.labels },
          seed,
          {
            ...DEFAULT_STUDENT_PROTOCOL,
            maxSteps: cap,
            minSteps: Math.min(DEFAULT_STUDENT_PROTOCOL.minSteps, cap),
          },
        );
        return {
          accuracy: s.testAccuracy,
          loss: s.testLoss,
          steps: s.steps,
          trainLoss: s.finalTrainLoss,
          stop: s.stop,
        };
      });
      return {
        outputs: [],
        result: () => ({
          accuracy: r.accuracy,
          loss: r.loss,
          seed: input.seed,
          student: input.student,
          lr: input.lr,
          steps: r.steps,
          trainRows: train.set.labels.length,
          testRows: test.labels.length,
          softLabels: Boolean(train.set.labelLogits),
          trainLoss: r.trainLoss,
          protocol,
          ...('stop' in r ? { stop: r.stop } : {}),
        }),
      };
    },
  );
}
