#!/usr/bin/env node
// The `retort` CLI (client/cli.ts), run through tsx so a checkout needs no build step. Commands that run
// compute (`worker`, `start`) re-launch under the tuned allocator first (workers/allocator.mjs).
import { register } from 'tsx/esm/api';
import { relaunchWithAllocator } from '../workers/allocator.mjs';

const computes = ['worker', 'start'].includes(process.argv[2] ?? '');
if (!(computes && relaunchWithAllocator())) {
  register();
  await import('../client/cli.ts');
}
