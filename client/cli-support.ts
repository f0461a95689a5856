// What the `retort` CLI needs besides the client: user errors (one line + a hint, exit code 2),
// argument parsing with `--help` on every subcommand, input files read with precise messages, Web UI
// links and the live progress line of `--wait`.
import { existsSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { WORKFLOW_INPUTS } from './workflow-types.js';

/** A mistake the user can fix: printed as `retort: <message>` and `hint: <hint>`, exit code 2. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Prints a user error in its two lines (never a stack) and exits with code 2. */
export function exitWithUserError(err: UserError): never {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();
  console.error(`retort: ${oneLine(err.message)}`);
  console.error(`hint: ${oneLine(err.hint)}`);
  process.exit(2);
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `parseArgs` for one subcommand: `--help`/`-h` prints `help` and exits 0; an unknown option or a
 * missing value is a user error pointing at `retort <command> --help`.
 */
export function parseCommand<O extends Options>(command: string, help: string, args: string[], options: O) {
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
    });
    if ((parsed.values as Record<string, unknown>).help) {
      console.log(help);
      process.exit(0);
    }
    return parsed as unknown as {
      values: {
        [K in keyof O]?: O[K]['type'] extends 'boolean'
          ? boolean
          : O[K]['multiple'] extends true
            ? string[]
            : string;
      };
      positionals: string[];
    };
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!code.startsWith('ERR_PARSE_ARGS')) throw err;
    const message = (err as Error).message.split('. ')[0]!.replace(/^Unknown option/, 'unknown option');
    throw new UserError(`${command}: ${message}`, `see \`retort ${command} --help\``);
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/**
 * Reads a JSON object from `file`: a missing file, unreadable JSON (with line:column) or a non-object
 * is a user error.
 */
export function readJsonFile(file: string): Record<string, unknown> {
  if (!existsSync(file))
    throw new UserError(`no such file: ${file}`, 'inputs are JSON files, e.g. examples/ingest-corpus.json');
  const text = readFileSync(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const where = at ? lineColumn(text, Number(at[1])) : lineColumn(text, text.length);
    const what = message
      .replace(/ in JSON at position \d+.*$/, '')
      .replace(/^Unexpected end of JSON input$/, 'unexpected end of input');
    throw new UserError(
      `${file}:${where.line}:${where.column}: invalid JSON: ${what}`,
      'a workflow input is one JSON object; check quotes and trailing commas there',
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new UserError(
      `${file}: the input must be a JSON object`,
      'every workflow takes a single JSON object, e.g. {"seed": 1}',
    );
  return value as Record<string, unknown>;
}

/** Reads and validates a workflow input file against its type's schema, naming the first bad field. */
export function readInputFile(file: string, type: keyof typeof WORKFLOW_INPUTS): Record<string, unknown> {
  const input = readJsonFile(file);
  const parsed = WORKFLOW_INPUTS[type].safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(
      `${file}: field "${issue.path.join('.') || '(input)'}": ${issue.message}`,
      `the ${type} input is described in README.md; examples/ holds one input per workflow`,
    );
  }
  return input;
}

/** `90s`, `6h`, `1 day` in ms; NaN when it is no duration. */
function durationMs(value: string): number {
  try {
    return msToNumber(value as Parameters<typeof msToNumber>[0]);
  } catch {
    return Number.NaN;
  }
}

/** Checks a schedule interval (`1d`, `6h`, `1 day`) before anything is sent to the server. */
export function checkDuration(flag: string, value: string): void {
  if (!(durationMs(value) > 0))
    throw new UserError(
      `${flag} "${value}" is not a duration`,
      'use a number and a unit: 90s, 15m, 6h, 1d (or "1 day")',
    );
}

/**
 * An ISO 8601 instant from a flag: a UTC day `2026-11-01` (its midnight) or a date-time with `Z` or an
 * offset (`2026-11-01T06:00:00Z`, `…+02:00`); a date-time without one would depend on the local zone.
 */
export function parseInstant(flag: string, value: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/.exec(
    value,
  );
  const t = m ? new Date(m[4] ? value : `${value}T00:00:00Z`) : undefined;
  // Date() rolls 2026-02-30 over into March: the written calendar date must exist.
  const probe = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (
    !t ||
    Number.isNaN(t.getTime()) ||
    probe!.getUTCMonth() !== Number(m![2]) - 1 ||
    probe!.getUTCDate() !== Number(m![3])
  )
    throw new UserError(
      `${flag} "${value}" is not an ISO 8601 date or date-time`,
      'e.g. 2026-11-01 (midnight UTC) or 2026-11-01T06:00:00Z (a date-time needs Z or an offset)',
    );
  return t;
}

/** A non-negative age such as `30d`, `12h` or `0s`, in ms (`retort gc --older-than`). */
export function parseAge(flag: string, value: string): number {
  const millis = durationMs(value);
  if (!(millis >= 0))
    throw new UserError(`${flag} "${value}" is not an age`, 'use a number and a unit: 0s, 12h, 30d');
  return millis;
}

export const temporalAddress = () => process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
export const temporalNamespace = () => process.env.TEMPORAL_NAMESPACE ?? 'default';

/** The Web UI: RETORT_UI_URL, else the dev server's (frontend port + 1000 on the same host). */
export function uiBase(): string {
  if (process.env.RETORT_UI_URL) return process.env.RETORT_UI_URL.replace(/\/$/, '');
  const addr = temporalAddress();
  const m = /^(.*):(\d+)$/.exec(addr);
  return m ? `http://${m[1]}:${Number(m[2]) + 1000}` : `http://${addr}`;
}

/** The Web UI page of a workflow. */
export const workflowUrl = (workflowId: string) =>
  `${uiBase()}/namespaces/${encodeURIComponent(temporalNamespace())}/workflows/${encodeURIComponent(workflowId)}`;

/**
 * Fails fast when nothing listens at TEMPORAL_ADDRESS (a refused TCP connection answers at once; the
 * gRPC client would retry until its deadline).
 */
export async function probeServer(timeoutMs = 3000): Promise<void> {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(temporalAddress());
  if (!m) return;
  await new Promise<void>((resolve, reject) => {
    const socket = tcpConnect({ host: m[1]!, port: Number(m[2]) });
    const done = (err?: Error) => {
      socket.destroy();
      if (err) reject(serverUnreachable(err));
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no answer in ${timeoutMs / 1000} s`)));
    socket.once('connect', () => done());
    socket.once('error', (err) => done(new Error((err as NodeJS.ErrnoException).code ?? err.message)));
  });
}

/** Explains a failed connection: where the CLI looked and how to start or point at a server. */
export function serverUnreachable(err: unknown): UserError {
  const reason = String((err as Error)?.message ?? err).split('\n')[0];
  return new UserError(
    `cannot reach the Temporal server at ${temporalAddress()} (${reason})`,
    'start one with `retort server` (or `npm start`), or set TEMPORAL_ADDRESS to a running server',
  );
}

// ------------------------------------------------------------------------------------------------
// Progress

interface Counter {
  done: number;
  total: number;
}
const isCounter = (v: unknown): v is Counter =>
  !!v &&
  typeof v === 'object' &&
  typeof (v as Counter).done === 'number' &&
  typeof (v as Counter).total === 'number';

const fmt = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(4) : String(v));

/**
 * One progress object as words: the stage first, counters as `shard 3/8`, scalars as `key=value`;
 * refs, URIs and empty values are left out. `counter` is the most specific unfinished counter (for a bar).
 */
export function describeProgress(p: Record<string, unknown>): { text: string; counter?: Counter } {
  const parts: string[] = [];
  let counter: Counter | undefined;
  if (typeof p.stage === 'string') parts.push(p.stage);
  for (const [k, v] of Object.entries(p)) {
    if (k === 'stage' || k === 'child' || k === 'runKey' || v === null || v === undefined) continue;
    if (isCounter(v)) {
      if (v.total === 0) continue;
      parts.push(`${k} ${v.done}/${v.total}`);
      if (v.done < v.total) counter = v;
    } else if (typeof v === 'number' || typeof v === 'boolean') {
      if (k === 'total' || k === 'step' || k === 'done' || k === 'iteration') continue;
      parts.push(`${k}=${fmt(v)}`);
    } else if (typeof v === 'string' && !/^(file|s3):\/\//.test(v) && v.length <= 40) {
      parts.push(`${k}=${v}`);
    }
  }
  // Flat counters (`step`/`iteration`/`done` of `total`) lead the line.
  const at = [p.step, p.iteration, p.done].find((x) => typeof x === 'number') as number | undefined;
  if (typeof at === 'number' && typeof p.total === 'number' && p.total > 0) {
    parts.splice(typeof p.stage === 'string' ? 1 : 0, 0, `${at}/${p.total}`);
    counter = { done: at, total: p.total };
  }
  return { text: parts.join(' '), ...(counter ? { counter } : {}) };
}

function bar(c: Counter, width = 24): string {
  const f = Math.max(0, Math.min(1, c.done / c.total));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${String(Math.round(f * 100)).padStart(3)}%`;
}

/**
 * Prints progress of a run and (nested, after `›`) its running child: on a TTY one line redrawn in
 * place with a bar, otherwise one line per change.
 */
export class ProgressPrinter {
  private last = '';
  constructor(
    private readonly tty: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(parent: Record<string, unknown>, child?: Record<string, unknown>): void {
    const top = describeProgress(parent);
    const nested = child ? describeProgress(child) : undefined;
    const text = nested?.text ? `${top.text} › ${nested.text}` : top.text;
    if (!text || text === this.last) return;
    this.last = text;
    if (!this.tty) {
      this.stream.write(`${text}\n`);
      return;
    }
    const counter = nested?.counter ?? top.counter;
    const cols = this.stream.columns || 100;
    const line = `${counter ? `${bar(counter)} ` : ''}${text}`;
    this.stream.write(`\r\x1b[2K${line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line}`);
  }

  end(): void {
    if (this.tty && this.last) this.stream.write('\n');
  }
}

/** Artifact refs in a result whose kind is `report`, by their path (`report`, `committee.report`). */
export function reportRefs(result: unknown, path = ''): { path: string; uri: string }[] {
  if (!result || typeof result !== 'object') return [];
  const r = result as Record<string, unknown>;
  if (typeof r.uri === 'string' && r.kind === 'report') return [{ path: path || 'report', uri: r.uri }];
  return Object.entries(r).flatMap(([k, v]) => reportRefs(v, path ? `${path}.${k}` : k));
}

/** A few lines a person reads after `--wait`: the result's scalars and accuracy rows, not its refs. */
export function summarizeResult(result: unknown): string[] {
  if (!result || typeof result !== 'object') return [];
  const lines: string[] = [];
  const scalars: string[] = [];
  for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
    if (typeof v === 'number') scalars.push(`${k}=${fmt(v)}`);
    else if (typeof v === 'string' && !/^(file|s3):\/\//.test(v) && v.length <= 60) scalars.push(`${k}=${v}`);
    else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && 'mean' in x)) {
      for (const row of v as { method?: string; mean: number; std?: number; ipc?: number | null }[])
        lines.push(
          `  ${k} ${row.method ?? ''}${row.ipc ? ` IPC ${row.ipc}` : ''}: ${(row.mean * 100).toFixed(2)}%${typeof row.std === 'number' ? ` ± ${(row.std * 100).toFixed(2)}` : ''}`,
        );
    } else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && 'group' in x)) {
      scalars.push(`${k}: ${(v as { group: string }[]).map((g) => g.group).join(', ')}`);
    }
  }
  if (scalars.length) lines.unshift(`  ${scalars.join('  ')}`);
  return lines.slice(0, 12);
}
