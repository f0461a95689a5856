// CV-DD activities (queue `retort-compute`; specs/distill-committee-voting.md §2 activities):
//
//   trainCommitteeMember  one member (BatchNorm ConvNet or MLP) trained on the train table minus a
//                         seeded validation hold-out; checkpoint + LATEST after every epoch, resume from
//                         LATEST on retry, heartbeats; returns the final checkpoint and validation top-1
//                         (its voting prior, §4.2 "test_acc" proxy).
//   estimateCommitteePrior  (settings.priorSource 'single_model') §4.2's prior of one member: every slot
//                         recovered by that member alone, relabelled by it, a student trained on the set,
//                         its validation top-1 in percent (memoized; heartbeats per slot / student chunk).
//   recoverSlotChunk      iterations [from, from + n) of one IPC slot's recovery (§5.2); the slot state
//                         (images, Adam moments, iteration) is checkpointed at the chunk's end and on
//                         cancellation; retries resume from LATEST; results depend only on the global
//                         iteration (same images whatever the chunking).
//   exportRecovered       the final images of every slot → an `images` table (memoized, all-or-nothing)
//                         plus the §8.5 per-voter report at the final images.
//   postEvalCommittee     one evaluation seed (§5.4): a fresh student on the recovered set with KL on
//                         online committee soft labels (BSSL), or on IPC random real images with hard
//                         labels; test top-1 (memoized).
// The math lives in ml/methods/cvdd/; each activity is a file here, this one wires them to the
// worker's store. The property names are the activity types registered with Temporal.
import type { ArtifactRef } from '../../schemas/artifact.js';
import type {
  EstimateCommitteePriorInput,
  ExportRecoveredInput,
  PostEvalCommitteeInput,
  RecoverSlotChunkInput,
  TrainCommitteeMemberInput,
} from '../../schemas/cvdd.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { type ImageData, trainingTableReader } from '../training-data.js';
import { committeeLeases } from './committees.js';
import { checkLabels } from './config.js';
import type { CvddDeps } from './deps.js';
import { estimateCommitteePrior } from './estimate-prior.js';
import { exportRecovered } from './export-recovered.js';
import { postEvalCommittee } from './post-eval.js';
import { recoverSlotChunk } from './recover-slot.js';
import { trainCommitteeMember } from './train-member.js';

export { committeeArch, resolveCvddConfig } from './config.js';

export function createCvddActivities({ artifacts }: { artifacts: ArtifactStore }) {
  const checkpoints = new CheckpointStore(artifacts.store);
  const readTable = trainingTableReader(artifacts);
  const deps: CvddDeps = {
    artifacts,
    checkpoints,
    readTest: trainingTableReader(artifacts),
    leaseCommittee: committeeLeases(checkpoints),
    async readImages(ref: ArtifactRef, classes: number): Promise<ImageData> {
      const t = (await readTable(ref, 'images')) as ImageData;
      checkLabels(t, classes);
      return t;
    },
  };
  return {
    trainCommitteeMember: (input: TrainCommitteeMemberInput) => trainCommitteeMember(deps, input),
    recoverSlotChunk: (input: RecoverSlotChunkInput) => recoverSlotChunk(deps, input),
    exportRecovered: (input: ExportRecoveredInput) => exportRecovered(deps, input),
    estimateCommitteePrior: (input: EstimateCommitteePriorInput) => estimateCommitteePrior(deps, input),
    postEvalCommittee: (input: PostEvalCommitteeInput) => postEvalCommittee(deps, input),
  };
}
