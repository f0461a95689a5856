// Run reports in real headless Chromium (Debian's `chromium`, driven by playwright-core): every
// named plot of every pipeline's report renders as an SVG with marks, images decode, no console
// errors, nothing loaded from outside the page. Screenshots go to test-output/reports/.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReportActivities } from '../../activities/report/index.js';
import { ArtifactStore } from '../../storage/artifacts.js';
import { FileStore } from '../../storage/file-store.js';
import { PLOTS, inspectReport, launchChromium } from '../support/browser.js';
import { reportContents } from '../support/report-fixtures.js';

const OUT = resolve('test-output/reports');

describe('run reports in headless Chromium', () => {
  let browser: Browser;
  const written: Record<string, string> = {};

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    const artifacts = new ArtifactStore(new FileStore(mkdtempSync(join(tmpdir(), 'retort-report-'))));
    const { writeReport } = createReportActivities({ artifacts });
    for (const [kind, content] of Object.entries(await reportContents(artifacts))) {
      const ref = await writeReport({
        workflowType: kind,
        workflowId: `report-test/${kind}`,
        dataset: 'fixture',
        contents: [content],
        input: { kind },
        cache: false,
      });
      expect(ref).toMatchObject({ kind: 'report', format: 'html' });
      const html = new TextDecoder().decode(await artifacts.read(ref));
      expect(html).not.toContain('file://');
      written[kind] = join(OUT, `${kind}.html`);
      writeFileSync(written[kind], html);
    }
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it.each([
    'trajectory',
    'cvdd',
    'ingest',
    'selectWarmup',
    'mixing',
    'continual',
    'curateEvaluation',
    'curation',
  ] as const)('%s: every named plot renders', async (kind) => {
    const { plots, errors, outside } = await inspectReport(browser, written[kind]!, join(OUT, `${kind}.png`));
    expect(errors).toEqual([]);
    expect(outside).toEqual([]);
    expect(plots.map((p) => p.name)).toEqual(PLOTS[kind]);
    for (const p of plots) {
      expect(p.svgs, p.name).toBe(1);
      expect(p.marks, p.name).toBeGreaterThan(0);
      expect(p.imagesDecoded, p.name).toBe(p.images);
    }
    if (kind === 'trajectory' || kind === 'cvdd') {
      // 3 real digits per class for 10 classes, each decoded by the browser.
      expect(plots.find((p) => p.name === 'distilled-images')!.images).toBe(30);
    }
  });
});
