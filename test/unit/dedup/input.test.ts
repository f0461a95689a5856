// dedupCorpus's input: the example parses and maps to its workflow type; bad settings name the field.
import { describe, expect, it } from 'vitest';
import { WORKFLOW_INPUTS, workflowTypeFromFile } from '../../../client/workflow-types.js';
import example from '../../../examples/dedup-corpus.json' with { type: 'json' };
import { DedupCorpusInput } from '../../../schemas/dedup-corpus.js';
import { DedupSettings } from '../../../schemas/dedup.js';
import { IngestCorpusInput } from '../../../schemas/ingest.js';

describe('dedupCorpus input', () => {
  it('examples/dedup-corpus.json maps to dedupCorpus and parses', () => {
    expect(workflowTypeFromFile('examples/dedup-corpus.json')).toBe('dedupCorpus');
    expect(WORKFLOW_INPUTS.dedupCorpus).toBe(DedupCorpusInput);
    const parsed = DedupCorpusInput.parse(example);
    expect(parsed.dedup).toMatchObject({ bands: 20, rows: 5, numPerm: 100, threshold: 0.8, shardRows: 200 });
    expect(parsed.filters?.symbolRatio).toBe(false);
  });

  it.each([
    [{ threshold: 0 }, 'threshold'],
    [{ threshold: 1.01 }, 'threshold'],
    [{ bands: 10, rows: 5 }, 'numPerm'],
    [{ ngram: 0 }, 'ngram'],
  ])('%j is refused at %s', (settings, field) => {
    const r = DedupSettings.safeParse(settings);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual([field]);
  });

  it('ingestCorpus without dedup or filters parses to the same object as before (no new keys)', () => {
    const parsed = IngestCorpusInput.parse({});
    expect('dedup' in parsed).toBe(false);
    expect('filters' in parsed).toBe(false);
  });
});
