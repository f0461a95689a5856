// Real headless Chromium for report and Web UI checks (Debian's `chromium` + playwright-core).
import { type Browser, chromium } from 'playwright-core';
import type { ReportContent } from '../../schemas/report.js';

export const CHROMIUM = process.env.RETORT_CHROMIUM ?? '/usr/bin/chromium';

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

/** The plots each kind of report must show, by `data-plot` name. */
export const PLOTS: Record<ReportContent['kind'], string[]> = {
  trajectory: ['distilled-images', 'accuracy', 'matching-loss'],
  cvdd: ['distilled-images', 'accuracy', 'member-priors', 'voting-weights', 'recovery-terms'],
  ingest: ['bytes-per-group', 'windows-per-group'],
  selectWarmup: ['composition', 'score-histogram', 'ot-cost'],
  mixing: ['proportions', 'val-loss', 'a-hat'],
  continual: ['loss-and-lr'],
  curateEvaluation: ['group-loss'],
  curation: ['lsh-s-curve'],
};

export interface PlotCheck {
  name: string;
  svgs: number;
  marks: number;
  images: number;
  imagesDecoded: number;
}

/** Loads a report page and measures each named plot; collects console errors and outside requests. */
export async function inspectReport(browser: Browser, file: string, screenshot: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const outside: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith('file://') && !r.url().startsWith('data:')) outside.push(r.url());
  });
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  const plots = await page.$$eval('figure[data-plot]', (figs) =>
    figs.map((f) => {
      const images = [...f.querySelectorAll('image')];
      return {
        name: f.getAttribute('data-plot')!,
        svgs: f.querySelectorAll(':scope > svg').length,
        // Vega draws data marks inside `g.role-mark` groups (axes and legends are other roles).
        marks: f.querySelectorAll('g.role-mark > *').length,
        images: images.length,
        imagesDecoded: 0,
      };
    }),
  );
  // An <image> with a broken data URI still exists in the DOM: decode each one to be sure.
  for (const p of plots) {
    if (!p.images) continue;
    p.imagesDecoded = await page.$$eval(`figure[data-plot="${p.name}"] image`, async (imgs) => {
      interface Probe {
        onload: (() => void) | null;
        onerror: (() => void) | null;
        src: string;
        naturalWidth: number;
      }
      const Image = (globalThis as unknown as { Image: new () => Probe }).Image;
      const ok = await Promise.all(
        imgs.map(
          (im) =>
            new Promise<boolean>((done) => {
              const probe = new Image();
              probe.onload = () => done(probe.naturalWidth > 0);
              probe.onerror = () => done(false);
              probe.src = im.getAttribute('href') ?? im.getAttribute('xlink:href') ?? '';
            }),
        ),
      );
      return ok.filter(Boolean).length;
    });
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { plots, errors, outside };
}
