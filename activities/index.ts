// Activity factories. Workflows import these as TYPES only (proxyActivities<IoActivities>);
// workers build them with their dependencies (the object store).
import { ArtifactStore } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withFailureMapping } from './failures.js';
import { createIngestActivities } from './ingest.js';
import { createImageActivities } from './images.js';
import { createDistillReportActivities } from './distill-report.js';
import { createManifestActivities } from './manifest.js';
import { createMixingHistoryActivities } from './mixing-history.js';
import { createSelectWarmupIoActivities } from './select-warmup-io.js';
import { createContinualIoActivities } from './continual.js';
import { createCurateIoActivities } from './curate.js';
import { createReportActivities } from './report/index.js';

export interface ActivityDeps {
  store: ObjectStore;
}

/** Activities for queue `retort`: ingest, manifests, other I/O. */
export function createIoActivities({ store }: ActivityDeps) {
  const artifacts = new ArtifactStore(store);
  return withFailureMapping({
    ...createIngestActivities({ artifacts }),
    ...createManifestActivities({ artifacts }),
    ...createMixingHistoryActivities({ artifacts }),
    ...createImageActivities({ artifacts }),
    ...createDistillReportActivities({ artifacts }),
    ...createSelectWarmupIoActivities({ artifacts }),
    ...createContinualIoActivities({ artifacts }),
    ...createCurateIoActivities({ artifacts }),
    ...createReportActivities({ artifacts }),
  });
}
export type IoActivities = ReturnType<typeof createIoActivities>;
