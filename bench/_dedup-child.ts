// One phase of the dedup bench in its own process, so that its peak RSS is its own:
//   tsx bench/_dedup-child.ts <prepare|signatures|resolve> <store dir> <input JSON file>
// Runs the real activities (activities/dedup.ts) on a file store and prints one JSON line:
// { result, seconds, maxRssMiB }.
import { readFileSync } from 'node:fs';
import { createDedupComputeActivities, createDedupIoActivities } from '../activities/dedup.js';
import type { ArtifactRef } from '../schemas/artifact.js';
import { ArtifactStore } from '../storage/artifacts.js';
import { FileStore } from '../storage/file-store.js';

const [phase, storeDir, inputFile] = process.argv.slice(2);
const artifacts = new ArtifactStore(new FileStore(storeDir!));
const io = createDedupIoActivities({ artifacts });
const compute = createDedupComputeActivities({ artifacts });
const input = JSON.parse(readFileSync(inputFile!, 'utf8')) as Record<string, unknown>;

const t0 = performance.now();
let result: unknown;
if (phase === 'prepare') result = await io.prepareCuration(input as never);
else if (phase === 'signatures') {
  const { shards, settings } = input as { shards: ArtifactRef[]; settings: never };
  const out: ArtifactRef[] = [];
  for (const shard of shards) out.push(await compute.minhashShard({ shard, settings, cache: false }));
  result = out;
} else if (phase === 'resolve') result = await io.resolveDuplicates(input as never);
else throw new Error(`unknown phase ${phase}`);
const seconds = (performance.now() - t0) / 1000;
// resourceUsage().maxRSS is in KiB.
process.stdout.write(
  `${JSON.stringify({ result, seconds, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
);
