/** Shared by `eval` and `calibrate`: their data flags, and labelled data scored against one compiled rail set. */
import type { CompiledRailSet } from '../matching/compile.js';
import type { CliIO } from '../cli/io.js';
import { progress, UsageError } from './cli.js';
import { withWorkbench } from './workbench.js';
import { readLabelledData, type DataOptions, type LabelledItem } from './dataset.js';
import { scoreTexts, type ScoredText } from './scored.js';
import path from 'node:path';

export interface LabelledScores {
  readonly items: LabelledItem[];
  readonly scored: ScoredText[];
}

export async function scoreLabelledData(
  io: CliIO,
  compiled: CompiledRailSet,
  file: string,
  options: DataOptions,
): Promise<LabelledScores> {
  const items = await readLabelledData(path.resolve(io.cwd, file), options);
  const bar = progress(io, 'embedding', items.length);
  try {
    const scored = await scoreTexts(
      compiled,
      items.map((i) => i.text),
      (done) => bar.update(done),
    );
    return { items, scored };
  } finally {
    bar.stop();
  }
}

/** The flags `eval` and `calibrate` both read labelled data with. */
export const LABELLED_DATA_FLAGS = {
  rails: { type: 'string' },
  data: { type: 'string' },
  set: { type: 'string' },
  'text-column': { type: 'string' },
  'label-column': { type: 'string' },
} as const;

export interface LabelledDataValues {
  readonly rails?: string | undefined;
  readonly data?: string | undefined;
  readonly set?: string | undefined;
  readonly 'text-column'?: string | undefined;
  readonly 'label-column'?: string | undefined;
}

/** The `--data` file; a usage error without one. */
export function labelledDataFile(values: LabelledDataValues): string {
  if (!values.data) throw new UsageError('--data FILE is required');
  return values.data;
}

/** Compiles the chosen rail set, scores `file` against it, and hands both to `work`. */
export function withLabelledScores<T>(
  io: CliIO,
  values: LabelledDataValues,
  file: string,
  work: (compiled: CompiledRailSet, scores: LabelledScores) => Promise<T>,
): Promise<T> {
  return withWorkbench(io, values.rails, async (workbench) => {
    const compiled = await workbench.compile(workbench.pick(values.set));
    const scores = await scoreLabelledData(io, compiled, file, {
      textColumn: values['text-column'],
      labelColumn: values['label-column'],
    });
    return work(compiled, scores);
  });
}
