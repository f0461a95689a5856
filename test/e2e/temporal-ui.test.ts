// The Temporal Web UI page of a finished run, in real headless Chromium: the timeline shows the
// activities' summaries and the run's static summary and details are visible. The suite's shared dev
// server is headless, so this test starts its own with a UI. Screenshot in test-output/ui/.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { Page } from 'playwright-core';
import { describe, expect, it, inject } from 'vitest';
import { RetortClient } from '../../client/index.js';
import { FileStore } from '../../storage/file-store.js';
import { freePort, startDevServer } from '../../workers/dev-server.js';
import { createWorkers } from '../../workers/workers.js';
import { launchChromium } from '../support/browser.js';

const OUT = resolve('test-output/ui');

/** Waits until the page or one of its frames shows `text`. */
async function textInSomeFrame(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  while (Date.now() < deadline) {
    seen.length = 0;
    for (const frame of page.frames()) {
      const body = await frame.innerText('body').catch(() => '');
      seen.push(body.replace(/\s+/g, ' '));
    }
    if (seen.some((b) => b.includes(text))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`"${text}" not shown in any frame; frames showed: ${JSON.stringify(seen).slice(0, 2000)}`);
}

describe('Temporal Web UI of a finished run', () => {
  it('shows activity summaries on the timeline and the static summary and details', async () => {
    mkdirSync(OUT, { recursive: true });
    const srv = await startDevServer({ uiPort: await freePort() });
    const connection = await NativeConnection.connect({ address: srv.address });
    const store = new FileStore(mkdtempSync(join(inject('scratchDir'), 'ui-')));
    const workers = await createWorkers({
      connection,
      store,
      taskQueue: 'ui',
      queues: 'retort',
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = workers.map((w) => w.run());
    const retort = await RetortClient.connect({ address: srv.address });
    const browser = await launchChromium();
    try {
      const input = JSON.parse(readFileSync('examples/ingest-corpus.json', 'utf8')) as Record<
        string,
        unknown
      >;
      const outcome = await retort.run('ingestCorpus', input, { taskQueue: 'ui', workflowId: 'ui-run' });
      expect(outcome.status).toBe('COMPLETED');

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${srv.uiUrl}/namespaces/default/workflows/ui-run`, { waitUntil: 'networkidle' });
      // The timeline labels an activity `<type> • <summary>`.
      await page.getByText('writeReport • report.html (ingest)').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(OUT, 'run-timeline.png'), fullPage: true });
      await page.getByText('User Metadata', { exact: true }).first().click();
      // The UI renders the static summary and details (markdown) in sandboxed iframes.
      await textInSomeFrame(page, 'ingestCorpus builtin-text');
      await textInSomeFrame(page, 'ingestCorpus started with the Retort client.');
      await textInSomeFrame(page, 'maxBytesPerGroup: 1000000');
      await page.screenshot({ path: join(OUT, 'run-metadata.png'), fullPage: true });
      await page.close();
    } finally {
      await browser.close();
      await retort.close();
      for (const w of workers) w.shutdown();
      await Promise.all(running);
      await connection.close();
      await srv.stop();
    }
  });
});
