/** Shared by `eval` and `calibrate`: labelled data scored against one compiled rail set. */
import type { CompiledRailSet } from '../matching/compile.js';
import type { CliIO } from '../cli/io.js';
import { progress } from './cli.js';
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
