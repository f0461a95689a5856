// Plots for run reports: Vega-Lite specs compiled and rendered to SVG strings in Node (no browser,
// no canvas). Specs are plain JSON so a reader can paste one into the Vega editor.
import { View, parse } from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

/**
 * A Vega-Lite spec as plain JSON, without `$schema` and `config` (shared by every report chart);
 * vega-lite checks it when it compiles.
 */
export type ChartSpec = Record<string, unknown>;

const CONFIG = {
  font: 'system-ui, sans-serif',
  axis: { labelFontSize: 12, titleFontSize: 13, labelLimit: 260 },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 320 },
  title: { fontSize: 15, anchor: 'start' },
  // Marks carry no aria-label: the labels would repeat every datum (and every image's data URI).
  mark: { aria: false },
} as const;

/** Renders one Vega-Lite spec to a standalone SVG string. */
export async function vegaLiteSvg(spec: ChartSpec): Promise<string> {
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...spec,
    config: CONFIG,
  } as TopLevelSpec;
  const view = new View(parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Bars of mean accuracy per arm with ±std error bars (`rows`: arm, mean, std, n). */
export function accuracyBarsSpec(
  title: string,
  rows: { arm: string; mean: number; std: number; n: number }[],
): ChartSpec {
  const values = rows.map((r) => ({
    ...r,
    pct: 100 * r.mean,
    lo: 100 * (r.mean - r.std),
    hi: 100 * (r.mean + r.std),
    label: `${(100 * r.mean).toFixed(1)} ± ${(100 * r.std).toFixed(1)} (n=${r.n})`,
  }));
  return {
    title,
    width: 420,
    height: { step: 34 },
    data: { values },
    encoding: { y: { field: 'arm', type: 'nominal', sort: null, title: null } },
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          x: { field: 'pct', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
        },
      },
      {
        mark: { type: 'rule', color: '#222', strokeWidth: 2 },
        encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 6, color: '#222' },
        encoding: { x: { field: 'hi', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
}
