/**
 * How well the offline engine heard the bench's question: the spoken words against pocketsphinx's
 * transcript, aligned by word-level edit distance (so an inserted or dropped word costs one word,
 * not the rest of the sentence). By hand: a 20-line dynamic programme, not worth a dependency.
 */

export interface WordMatch {
  /** Words of the question the transcript has, in order (after alignment). */
  matched: number;
  /** Words in the question. */
  total: number;
  /** Substitutions + deletions + insertions, divided by `total`. */
  wordErrorRate: number;
}

/** Lowercase words; British and American spellings of the same word count as one (pocketsphinx's dictionary is US). */
export function words(text: string): string[] {
  return (text.toLowerCase().match(/[a-z']+/g) ?? []).map((w) => w.replace(/our$/, 'or'));
}

export function wordMatch(spoken: string, heard: string): WordMatch {
  const ref = words(spoken);
  const hyp = words(heard);
  // cost[i][j]: edits to turn ref[0..i) into hyp[0..j); hits[i][j]: matched words on that path.
  const cost = Array.from({ length: ref.length + 1 }, (_, i) => Array.from({ length: hyp.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const hits = Array.from({ length: ref.length + 1 }, () => new Array<number>(hyp.length + 1).fill(0));
  for (let i = 1; i <= ref.length; i++) {
    for (let j = 1; j <= hyp.length; j++) {
      const same = ref[i - 1] === hyp[j - 1];
      const options: [number, number][] = [
        [cost[i - 1]![j - 1]! + (same ? 0 : 1), hits[i - 1]![j - 1]! + (same ? 1 : 0)],
        [cost[i - 1]![j]! + 1, hits[i - 1]![j]!],
        [cost[i]![j - 1]! + 1, hits[i]![j - 1]!],
      ];
      const best = options.reduce((a, b) => (b[0] < a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
      cost[i]![j] = best[0];
      hits[i]![j] = best[1];
    }
  }
  const total = ref.length;
  return { matched: hits[ref.length]![hyp.length]!, total, wordErrorRate: total > 0 ? cost[ref.length]![hyp.length]! / total : 0 };
}
