// The Temporal Web UI pages of finished runs, in real headless Chromium: the timeline shows the
// activities' summaries and the run's static summary and details are visible — for ingestCorpus and
// for distillDataset (whose children carry their own summary, details and the user's dataset name).
// The suite's shared dev server is headless, so this test starts its own with a UI. Screenshots in
// test-output/ui/.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { RetortClient } from '../../client/index.js';
import type { TrajectoryDistillResult } from '../../schemas/distill.js';
import { progressQuery } from '../../schemas/messages.js';
import { RetortDataset, RetortHeadline } from '../../schemas/temporal.js';
import { FileStore } from '../../storage/file-store.js';
import { type DevServer, freePort, startDevServer } from '../../workers/dev-server.js';
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

const example = (name: string) =>
  JSON.parse(readFileSync(`examples/${name}.json`, 'utf8')) as Record<string, unknown>;

describe('Temporal Web UI of a finished run', () => {
  let srv: DevServer;
  let connection: NativeConnection;
  let workers: Worker[];
  let running: Promise<void>[];
  let retort: RetortClient;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    srv = await startDevServer({ uiPort: await freePort() });
    connection = await NativeConnection.connect({ address: srv.address });
    const store = new FileStore(mkdtempSync(join(inject('scratchDir'), 'ui-')));
    workers = await createWorkers({
      connection,
      store,
      taskQueue: 'ui',
      queues: 'all',
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    running = workers.map((w) => w.run());
    retort = await RetortClient.connect({ address: srv.address });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await retort?.close();
    for (const w of workers ?? []) w.shutdown();
    await Promise.all(running ?? []);
    await connection?.close();
    await srv?.stop();
  });

  /** Opens a run's page, waits for the timeline labels, then shows its user metadata. */
  async function openRun(workflowId: string, labels: string[], shot: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${srv.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`, {
      waitUntil: 'networkidle',
    });
    // The timeline labels an activity `<type> • <summary>`.
    for (const label of labels) await page.getByText(label).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(OUT, `${shot}-timeline.png`), fullPage: true });
    await page.getByText('User Metadata', { exact: true }).first().click();
    return page;
  }

  it('ingestCorpus: activity summaries on the timeline, the static summary and details', async () => {
    const outcome = await retort.run('ingestCorpus', example('ingest-corpus'), {
      taskQueue: 'ui',
      workflowId: 'ui-run',
    });
    expect(outcome.status).toBe('COMPLETED');
    const page = await openRun('ui-run', ['writeReport • report.html (ingest)'], 'run');
    // The UI renders the static summary and details (markdown) in sandboxed iframes.
    await textInSomeFrame(page, 'ingestCorpus builtin-text');
    await textInSomeFrame(page, 'ingestCorpus started with the Retort client.');
    await textInSomeFrame(page, 'maxBytesPerGroup: 1000000');
    await page.screenshot({ path: join(OUT, 'run-metadata.png'), fullPage: true });
    await page.close();
  });

  it('distillDataset: the run and its experts child show their summaries and details', async () => {
    const id = 'ui-distill';
    const outcome = await retort.run<TrajectoryDistillResult>('distillDataset', example('distill-dataset'), {
      taskQueue: 'ui',
      workflowId: id,
    });
    expect(outcome.status, JSON.stringify(outcome.error)).toBe('COMPLETED');

    const page = await openRun(
      id,
      ['writeReport • report.html (trajectory)', 'evaluateDistilled • student 1 · random real, IPC 1'],
      'distill',
    );
    await textInSomeFrame(page, 'distillDataset mnist-14');
    await textInSomeFrame(page, 'distillDataset started with the Retort client.');
    await textInSomeFrame(page, 'method: datm');
    await page.screenshot({ path: join(OUT, 'distill-metadata.png'), fullPage: true });
    await page.close();

    const child = await openRun(`${id}/experts`, ['trainExpert • expert 1/2 · 4 epochs'], 'distill-experts');
    await textInSomeFrame(child, 'trainExperts · 2 experts × 4 epochs on mnist-14');
    await textInSomeFrame(child, `Child of distillDataset ${id} on mnist-14`);
    await child.screenshot({ path: join(OUT, 'distill-experts-metadata.png'), fullPage: true });
    await child.close();

    // Search attributes: the children carry the user's dataset name; the run its headline accuracy.
    for (const wid of [`${id}/experts`, `${id}/distill`]) {
      const d = await retort.client.workflow.getHandle(wid).describe();
      expect(d.typedSearchAttributes.get(RetortDataset), wid).toBe('mnist-14');
    }
    const parent = await retort.client.workflow.getHandle(id).describe();
    const distilled = outcome.result!.accuracy.find((a) => a.method === 'datm')!;
    expect(parent.typedSearchAttributes.get(RetortHeadline)).toBeCloseTo(100 * distilled.mean, 9);

    // Progress roll-up: each child sent its progress to the parent (signal childProgress), and the
    // parent's progress query names the latest child report.
    const history = await retort.client.workflow.getHandle(id).fetchHistory();
    const senders = new Set(
      (history.events ?? [])
        .map((e) => e.workflowExecutionSignaledEventAttributes)
        .filter((a) => a?.signalName === 'childProgress')
        .map(
          (a) =>
            (JSON.parse(new TextDecoder().decode(a!.input!.payloads![0]!.data!)) as { workflowId: string })
              .workflowId,
        ),
    );
    expect([...senders].sort()).toEqual([`${id}/distill`, `${id}/experts`]);
    const rolled = (await retort.client.workflow.getHandle(id).query(progressQuery)) as {
      childProgress: { workflowId: string; workflowType: string; details: string } | null;
    };
    expect(rolled.childProgress?.workflowId).toMatch(new RegExp(`^${id}/(experts|distill)$`));
    expect(rolled.childProgress?.details).toContain(`**${rolled.childProgress?.workflowType}**`);
  });
});
