// Background heartbeats: an activity that does not heartbeat itself (an I/O wait, a store retry)
// still heartbeats while it runs, and one that does keeps its own details. Real SDK activity
// context (MockActivityEnvironment runs the activity function in a genuine Context).
import { MockActivityEnvironment } from '@temporalio/testing';
import { heartbeat } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import { withBackgroundHeartbeats } from '../../../activities/liveness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function environment(heartbeatTimeoutMs: number | undefined) {
  const env = new MockActivityEnvironment(heartbeatTimeoutMs ? { heartbeatTimeoutMs } : {});
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  return { env, beats };
}

describe('withBackgroundHeartbeats', () => {
  const acts = withBackgroundHeartbeats({
    async quietWait(ms: number) {
      await sleep(ms);
      return 'done';
    },
    async reportsProgress(ms: number) {
      heartbeat({ step: 3 });
      await sleep(ms);
      return 'done';
    },
  });

  it('an activity that never heartbeats itself still heartbeats while it runs', async () => {
    const { env, beats } = environment(3000); // a beat every second
    expect(await env.run(acts.quietWait, 3500)).toBe('done');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    const after = beats.length;
    await sleep(1500);
    expect(beats.length).toBe(after); // stops with the activity
  });

  it('background beats repeat the details the activity last sent', async () => {
    const { env, beats } = environment(3000);
    await env.run(acts.reportsProgress, 2500);
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats.every((b) => JSON.stringify(b) === '{"step":3}')).toBe(true);
  });

  it('without a heartbeat timeout, or outside an activity, it adds nothing', async () => {
    const { env, beats } = environment(undefined);
    await env.run(acts.quietWait, 1200);
    expect(beats).toEqual([]);
    expect(await acts.quietWait(1)).toBe('done');
  });
});
