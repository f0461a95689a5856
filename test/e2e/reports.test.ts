// What a user of `retort run examples/distill-dataset.json --wait` gets: a human summary naming the
// run's report.html, whose plots (class-labelled image grid, accuracy with error bars, matching
// loss) render in real headless Chromium. Screenshots go to test-output/reports/.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, inject } from 'vitest';
import { ArtifactStore } from '../../storage/artifacts.js';
import { PLOTS, inspectReport, launchChromium } from '../support/browser.js';
import { startWorkers, tempFileStore, uniqueQueue } from '../support/temporal.js';

const run = promisify(execFile);
const OUT = resolve('test-output/reports');

describe('retort run examples/distill-dataset.json --wait', () => {
  it('ends with a summary, the report and the Web UI link; the report renders every plot', async () => {
    const store = tempFileStore('report-datm');
    const taskQueue = uniqueQueue('report');
    const { runUntil } = await startWorkers(store, taskQueue, 'all');
    const id = `report-${taskQueue}`;
    const { stdout } = await runUntil(() =>
      run(
        process.execPath,
        [
          'bin/retort.mjs',
          'run',
          'examples/distill-dataset.json',
          '--wait',
          '--task-queue',
          taskQueue,
          '--id',
          id,
        ],
        {
          env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), RETORT_STORE: store.root },
          maxBuffer: 16 * 1024 * 1024,
        },
      ),
    );
    expect(stdout).toContain(`distillDataset ${id}: COMPLETED`);
    expect(stdout).toMatch(/accuracy datm IPC 1: \d+\.\d+% ± \d+\.\d+/);
    expect(stdout).toMatch(/accuracy random_real IPC 1: /);
    const uri = /reportHtml: (file:\/\/\S+)/.exec(stdout)?.[1];
    expect(uri, stdout).toBeDefined();
    expect(stdout).toContain('Web UI: ');

    const html = new TextDecoder().decode(await new ArtifactStore(store).readUri(uri!));
    expect(html).not.toContain('file://');
    mkdirSync(OUT, { recursive: true });
    const file = join(OUT, 'distillDataset-run.html');
    writeFileSync(file, html);
    const browser = await launchChromium();
    try {
      const { plots, errors, outside } = await inspectReport(
        browser,
        file,
        join(OUT, 'distillDataset-run.png'),
      );
      expect(errors).toEqual([]);
      expect(outside).toEqual([]);
      expect(plots.map((p) => p.name)).toEqual(PLOTS.trajectory);
      for (const p of plots) {
        expect(p.marks, p.name).toBeGreaterThan(0);
        expect(p.imagesDecoded, p.name).toBe(p.images);
      }
      // IPC 1 over 10 classes: ten labelled images.
      expect(plots[0]!.images).toBe(10);
    } finally {
      await browser.close();
    }
  });
});
