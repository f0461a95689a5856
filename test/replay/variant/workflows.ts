// Negative control for the replay suite: ingestCorpus with its first two activities swapped. Replaying
// a real ingestCorpus history against this must fail with a determinism violation.
import { proxyActivities } from '@temporalio/workflow';
import type { IoActivities } from '../../../activities/index.js';

const act = proxyActivities<IoActivities>({ startToCloseTimeout: '1 minute' });

export async function ingestCorpus(input: { ctx?: number }): Promise<unknown> {
  const corpus = { train: undefined, val: undefined, test: undefined } as never;
  await act.tokenizeCorpus({ corpus, ctx: input.ctx ?? 128 });
  return act.ingestTextCorpus({} as never);
}
