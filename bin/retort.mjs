#!/usr/bin/env node
// The `retort` CLI (client/cli.ts), run through tsx so a checkout needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../client/cli.ts');
