// What every CV-DD activity of one worker shares.
import type { ArtifactRef } from '../../schemas/artifact.js';
import type { ArtifactStore } from '../../storage/artifacts.js';
import { CheckpointStore } from '../../storage/checkpoints.js';
import { type ImageData, trainingTableReader } from '../training-data.js';
import { type LeaseCommittee } from './committees.js';

export interface CvddDeps {
  artifacts: ArtifactStore;
  checkpoints: CheckpointStore;
  /** An `images` table whose labels are checked against `classes`. */
  readImages: (ref: ArtifactRef, classes: number) => Promise<ImageData>;
  /** A separate reader (and cache) for test tables. */
  readTest: ReturnType<typeof trainingTableReader>;
  leaseCommittee: LeaseCommittee;
}
