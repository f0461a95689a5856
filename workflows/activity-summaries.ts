// One-line summaries on activity calls, so the Web UI's timeline reads `slot 3 · chunk 2 (iterations
// 21–40)` or `expert 2/5 · 4 epochs` instead of a row of bare `recoverSlotChunk` bars. Each summary
// is a pure function of the call's input (deterministic); workflows get them through the activity
// proxies of common.ts without changing a call site.
import type { ActivityFunctionWithOptions } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute.js';
import type { IoActivities } from '../activities/index.js';

type All = ComputeActivities & IoActivities;
type Summaries = { [K in keyof All]?: (input: Parameters<All[K]>[0]) => string };

const range = (from: number, n: number) => `${from + 1}–${from + n}`;

const SUMMARIES: Summaries = {
  trainExpert: (i) => `expert ${i.expert + 1}/${i.experts.count} · ${i.experts.epochs} epochs`,
  distillChunk: (i) => `iterations ${range(i.fromIteration, i.iterations)}`,
  evaluateDistilled: (i) =>
    `student ${i.student + 1}${i.subset ? ` · random real, IPC ${i.subset.ipc}` : ''}`,
  trainCommitteeMember: (i) => `member ${i.index + 1} · ${i.arch.family}`,
  estimateCommitteePrior: (i) => `prior of member ${i.member.index + 1} (${i.member.id})`,
  recoverSlotChunk: (i) =>
    `slot ${i.slot + 1} · chunk ${Math.floor(i.fromIteration / i.iterations) + 1} (iterations ${range(i.fromIteration, i.iterations)})`,
  postEvalCommittee: (i) => `${i.committee.length ? 'committee' : 'random real'} · seed ${i.seed}`,
  embedShard: (i) => `embed ${i.name}`,
  scoreShard: (i) => `score ${i.name}`,
  minhashShard: (i) => `minhash ${i.name ?? 'shard'}`,
  trainChunk: (i) => `steps ${range(i.fromStep, i.steps)}`,
  writeReport: (i) => `report.html (${i.contents.map((c) => c.kind).join(', ')})`,
};

/** The proxy `activities` with each call's summary from SUMMARIES (others unchanged). */
export function withSummaries<T extends object>(activities: T): T {
  return new Proxy(activities, {
    get(target, name, receiver) {
      const fn = Reflect.get(target, name, receiver) as ActivityFunctionWithOptions<
        (...args: unknown[]) => Promise<unknown>
      >;
      const summarize =
        typeof name === 'string' ? (SUMMARIES as Record<string, (i: never) => string>)[name] : undefined;
      if (!summarize) return fn;
      const call = (...args: unknown[]) =>
        fn.executeWithOptions({ summary: summarize(args[0] as never) }, args);
      return Object.assign(call, { executeWithOptions: fn.executeWithOptions.bind(fn) });
    },
  });
}
