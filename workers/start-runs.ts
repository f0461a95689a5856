// What `npm start` runs once its workers poll: the ingest example, then the headline pipelines at a
// small profile — a curation lineage of two generations (the second re-warmed from the first's
// checkpoint, with GOT-D warm-up selection and Aioli mixing) and the two distillations (trajectory
// matching, committee voting), whose distilled sets are scored against as many random real images —
// each ending with its report path and Web UI link.
import type { RetortClient, RunOutcome } from '../client/index.js';
import { readInputFile, summarizeResult } from '../client/cli-support.js';
import { type WorkflowType, workflowTypeFromFile } from '../client/workflow-types.js';

export interface StartRun {
  type: WorkflowType;
  /** One line: what the run shows. */
  what: string;
  input: Record<string, unknown>;
}

/**
 * Generation 1 of the example lineage: the curation example without its last text group, its
 * selection and its Aioli mixing (a static mixture from scratch), so generation 2 — the example
 * itself — has a checkpoint to re-warm from and a previous partition to be compared with.
 */
function firstGeneration(curate: Record<string, unknown>): Record<string, unknown> {
  const { selection: _selection, mixing: _mixing, ...rest } = curate;
  const source = curate.source as { builtin?: string[] };
  return {
    ...rest,
    ...(Array.isArray(source.builtin) && source.builtin.length > 1
      ? { source: { ...source, builtin: source.builtin.slice(0, -1) } }
      : {}),
    mixing: { kind: 'static' },
  };
}

/** The runs of `npm start`; `--example FILE` runs that file alone. */
export function startRuns(example?: string): StartRun[] {
  if (example) {
    const type = workflowTypeFromFile(example);
    if (!type) throw new Error(`cannot tell the workflow type of ${example} from its name`);
    return [{ type, what: example, input: readInputFile(example, type) }];
  }
  const curate = readInputFile('examples/curate-corpus.json', 'curateCorpus');
  return [
    {
      type: 'ingestCorpus',
      what: 'ingest: builtin text groups → passages → train/val/test → token windows',
      input: readInputFile('examples/ingest-corpus.json', 'ingestCorpus'),
    },
    {
      type: 'curateCorpus',
      what: 'curation: speeches + novel, static mixture (from scratch on a new lineage)',
      input: firstGeneration(curate),
    },
    {
      type: 'curateCorpus',
      what: 'curation, the lineage continued: + code; GOT-D warm-up selection, Aioli mixing, LR re-warmed from the previous checkpoint',
      input: curate,
    },
    {
      type: 'distillDataset',
      what: 'distillation: DATM, 1 image per class of 14×14 MNIST, vs 1 random real image per class',
      input: readInputFile('examples/distill-dataset.json', 'distillDataset'),
    },
    {
      type: 'distillCvdd',
      what: 'distillation: CV-DD committee voting, 2 images per class of 14×14 MNIST, vs 2 random real images per class',
      input: readInputFile('examples/distill-cvdd.json', 'distillCvdd'),
    },
  ];
}

/** Lines about a finished curation: where it started from and its loss per group, this vs previous data. */
function curationLines(result: Record<string, unknown>): string[] {
  const r = result as {
    startedFrom?: { uri: string } | null;
    previousRun?: string | null;
    evaluation?: { downstream: Record<string, number>; upstream: Record<string, number> | null };
  };
  const lines = [
    `  started from ${r.startedFrom ? `the checkpoint of ${r.previousRun ?? 'init'} (LR re-warmed)` : 'scratch'}`,
  ];
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([g, v]) => `${g} ${v.toFixed(3)}`)
      .join(', ');
  if (r.evaluation) {
    lines.push(`  val loss (nats/byte), this data: ${fmt(r.evaluation.downstream)}`);
    if (r.evaluation.upstream) lines.push(`  val loss, previous data: ${fmt(r.evaluation.upstream)}`);
  }
  return lines;
}

/** Runs one start run to the end, printing progress (on a TTY), a summary, the report and the UI link. */
export async function runAndReport(
  retort: RetortClient,
  run: StartRun,
  runUrl: (workflowId: string) => string,
  writeReport: (outcome: RunOutcome) => Promise<string>,
): Promise<boolean> {
  const t0 = Date.now();
  console.log(`\n${run.type}: ${run.what}`);
  const live = process.stderr.isTTY;
  const outcome = await retort.run(run.type, run.input, {
    onProgress: (p) => {
      const step = typeof p.step === 'number' && typeof p.total === 'number' ? ` ${p.step}/${p.total}` : '';
      if (live) process.stderr.write(`\r\x1b[2K  ${String(p.stage)}${step}`);
    },
  });
  if (live) process.stderr.write('\r\x1b[2K');
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if (outcome.status !== 'COMPLETED') {
    console.error(
      `  ${outcome.status} after ${seconds} s: ${outcome.error?.type ?? ''} ${outcome.error?.message ?? ''}\n  Web UI: ${runUrl(outcome.workflowId)}`,
    );
    return false;
  }
  const result = outcome.result as Record<string, unknown>;
  console.log(`  COMPLETED in ${seconds} s`);
  for (const line of summarizeResult(result)) console.log(line);
  if (run.type === 'curateCorpus') for (const line of curationLines(result)) console.log(line);
  console.log(`  report: ${await writeReport(outcome)}\n  Web UI: ${runUrl(outcome.workflowId)}`);
  return true;
}
