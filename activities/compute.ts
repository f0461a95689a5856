// Activities for queue `retort-compute` (tfjs). The worker passes in the backend it initialised.
import { ArtifactStore } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withFailureMapping } from './failures.js';
import { withBackgroundHeartbeats } from './liveness.js';
import { createTrainingActivities } from './training.js';
import { createCommitteeActivities } from './committee.js';
import { createDistillActivities } from './distill.js';
import { createSelectWarmupComputeActivities } from './select-warmup.js';
import { createContinualComputeActivities } from './continual-compute.js';

export interface ComputeDeps {
  store: ObjectStore;
  backend: { name: string; tfVersion?: string };
}

export function createComputeActivities({ store, backend }: ComputeDeps) {
  const artifacts = new ArtifactStore(store);
  return withBackgroundHeartbeats(
    withFailureMapping({
      /** The backend and store a compute worker runs with (used by `retort doctor` and tests). */
      async computeBackendInfo(): Promise<{ backend: string; tfVersion?: string; store: string }> {
        return {
          backend: backend.name,
          ...(backend.tfVersion ? { tfVersion: backend.tfVersion } : {}),
          store: artifacts.store.root,
        };
      },
      ...createTrainingActivities({ artifacts }),
      ...createCommitteeActivities({ artifacts }),
      ...createDistillActivities({ artifacts }),
      ...createSelectWarmupComputeActivities({ artifacts, backend }),
      ...createContinualComputeActivities({ artifacts }),
    }),
  );
}
export type ComputeActivities = ReturnType<typeof createComputeActivities>;
