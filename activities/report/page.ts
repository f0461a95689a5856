// A run report as one self-contained HTML page: plots inline as SVG, images as data: URIs, no
// links to the store (the page opens the same from a file, S3 or an e-mail attachment).

/** One named plot: `name` is a stable handle (`data-plot`) tests and readers can find it by. */
export interface Figure {
  name: string;
  caption: string;
  svg: string;
}

export interface Section {
  heading: string;
  /** Short paragraphs of plain text (escaped). */
  notes?: string[];
  figures: Figure[];
  tables?: { caption: string; header: string[]; rows: (string | number)[][] }[];
}

export interface ReportPage {
  title: string;
  subtitle: string;
  sections: Section[];
  input: unknown;
}

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
figure{margin:1.2em 0;overflow-x:auto}figcaption{color:#555;font-size:13px;margin-top:.3em;max-width:900px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}caption{text-align:left;color:#555;padding-bottom:.3em}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}`;

function table(t: NonNullable<Section['tables']>[number]): string {
  const cell = (v: string | number, tag: string) => `<${tag}>${escapeHtml(String(v))}</${tag}>`;
  return `<table><caption>${escapeHtml(t.caption)}</caption><tr>${t.header.map((h) => cell(h, 'th')).join('')}</tr>${t.rows
    .map((r) => `<tr>${r.map((v) => cell(v, 'td')).join('')}</tr>`)
    .join('')}</table>`;
}

/** The page. SVG strings come from the chart renderer and are inlined as they are. */
export function renderReportPage(page: ReportPage): string {
  const sections = page.sections
    .map(
      (s) => `<section><h2>${escapeHtml(s.heading)}</h2>
${(s.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('\n')}
${s.figures
  .map(
    (f) =>
      `<figure class="plot" data-plot="${escapeHtml(f.name)}">${f.svg}<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`,
  )
  .join('\n')}
${(s.tables ?? []).map(table).join('\n')}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><h1>${escapeHtml(page.title)}</h1><p class="sub">${escapeHtml(page.subtitle)}</p>
${sections}
<section><h2>Input</h2><pre>${escapeHtml(JSON.stringify(page.input, null, 2))}</pre></section>
</body></html>
`;
}
