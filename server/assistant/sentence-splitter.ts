/**
 * Turns a streamed chat reply (markdown, arriving in arbitrary deltas) into speakable sentences,
 * each emitted as soon as its end is certain, so text-to-speech can start on the first one while
 * the model is still writing.
 *
 * Two stages, both written by hand because no markdown or sentence library works incrementally on
 * partial input (marked, remark, Intl.Segmenter all need the whole text, and Intl.Segmenter splits
 * at "e.g. " and "Dr. "):
 *  1. MarkdownStripper (below) drops fenced code blocks and inline code, and strips markup (headings,
 *     bullets, emphasis, links → their text) as characters arrive.
 *  2. The boundary scan cuts the stripped text after ". ", "! ", "? ", ": ", "…" and at newlines.
 * Every decision waits until the characters it depends on have arrived, so any way of cutting the
 * same reply into deltas yields exactly the same sentences.
 */
/** Words that end with a period but do not end a sentence ("e.g." is seen as the token "e.g"). */
const NEVER_ENDS_SENTENCE = new Set([
  'e.g', 'i.e', 'cf', 'vs', 'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'fig', 'approx', 'vol', 'pp',
]);
/** Abbreviations that may also end a sentence: a boundary unless a lowercase word follows. */
const MAY_END_SENTENCE = new Set([
  'etc', 'al', 'inc', 'ltd', 'co', 'corp', 'u.s', 'a.m', 'p.m', 'jan', 'feb', 'aug', 'sept', 'oct', 'nov', 'dec',
]);

const TERMINATORS = '.!?:…';
const CLOSERS = '"\'”’)]»';
const isSpace = (ch: string): boolean => /\s/.test(ch);

export class SentenceSplitter {
  private readonly stripper = new MarkdownStripper();
  /** Stripped text not yet emitted. */
  private text = '';
  /** Positions before this in `text` are known not to be sentence ends. */
  private scanFrom = 0;

  /** Adds a delta of the reply; returns the sentences completed by it (possibly none). */
  push(delta: string): string[] {
    this.text += this.stripper.push(delta);
    return this.cut(false);
  }

  /** The reply is complete: returns whatever sentences remain. */
  flush(): string[] {
    this.text += this.stripper.flush();
    const sentences = this.cut(true);
    const last = speakable(this.text);
    this.text = '';
    this.scanFrom = 0;
    if (last) sentences.push(last);
    return sentences;
  }

  private cut(final: boolean): string[] {
    const sentences: string[] = [];
    for (;;) {
      const end = this.findSentenceEnd(final);
      if (end === undefined) break;
      const sentence = speakable(this.text.slice(0, end.cutAt));
      if (sentence) sentences.push(sentence);
      this.text = this.text.slice(end.resumeAt);
      this.scanFrom = 0;
    }
    return sentences;
  }

  /** The first certain sentence end in `text`, or undefined (none, or it needs more text). */
  private findSentenceEnd(final: boolean): { cutAt: number; resumeAt: number } | undefined {
    const text = this.text;
    let i = this.scanFrom;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '\n') return { cutAt: i, resumeAt: i + 1 };
      if (!TERMINATORS.includes(ch)) {
        i++;
        continue;
      }
      let j = i;
      while (j < text.length && TERMINATORS.includes(text[j]!)) j++;
      while (j < text.length && CLOSERS.includes(text[j]!)) j++;
      if (j === text.length) {
        // "3." could become "3.14": wait for the next character (at the end, the rest is one sentence).
        this.scanFrom = i;
        return undefined;
      }
      if (!isSpace(text[j]!)) {
        i = j; // "3.14", "a.b", "https://x": punctuation inside a word
        continue;
      }
      const verdict = this.judge(text, i, j, final);
      if (verdict === 'wait') {
        this.scanFrom = i;
        return undefined;
      }
      if (verdict === 'end') return { cutAt: j, resumeAt: j };
      i = j;
    }
    this.scanFrom = i;
    return undefined;
  }

  /** Whether the punctuation run text[start, afterRun) followed by whitespace ends a sentence. */
  private judge(text: string, start: number, afterRun: number, final: boolean): 'end' | 'not-end' | 'wait' {
    const run = text.slice(start, afterRun).replace(/["'”’)\]»]+$/, '');
    const isEllipsis = run === '…' || /^\.{2,}$/.test(run);
    const isSinglePeriod = run === '.';
    if (!isEllipsis && !isSinglePeriod) return 'end';
    let tokenStart = start;
    while (tokenStart > 0 && !isSpace(text[tokenStart - 1]!)) tokenStart--;
    const word = text.slice(tokenStart, start).replace(/^["'“‘(\[«]+/, '');
    const lower = word.toLowerCase();
    if (isSinglePeriod) {
      if (NEVER_ENDS_SENTENCE.has(lower)) return 'not-end';
      if (/^\p{Lu}$/u.test(word)) return 'not-end'; // an initial, as in "J. R. R. Tolkien"
      if (!MAY_END_SENTENCE.has(lower)) return 'end';
    }
    // "etc." and "..." end a sentence only when what follows starts like a new one.
    let k = afterRun;
    while (k < text.length && isSpace(text[k]!)) {
      if (text[k] === '\n') return 'end';
      k++;
    }
    if (k === text.length) return final ? 'end' : 'wait';
    return /\p{Ll}/u.test(text[k]!) ? 'not-end' : 'end';
  }
}

/** Collapses whitespace; a sentence with no letter or digit (a rule "---", an emoji) says nothing. */
function speakable(raw: string): string {
  const sentence = raw.replace(/\s+/g, ' ').trim();
  return /[\p{L}\p{N}]/u.test(sentence) ? sentence : '';
}

type Step = { out: string; consumed: number } | 'wait';

/** Line prefixes that are markup, not speech: headings, bullets, numbered items, quotes. */
const LINE_PREFIX = /^(?:[ \t]{0,3}#{1,6}(?=[ \t\n])|[ \t]*[-*+](?=[ \t])|[ \t]*\d{1,3}[.)](?=[ \t])|[ \t]*>)/;
/** A line start that could still turn into one of the prefixes above (or a fence) with more text. */
const PARTIAL_PREFIX = /^(?:[ \t]*|[ \t]{0,3}#{1,6}|[ \t]*[-*+]|[ \t]*\d{1,3}[.)]?|[ \t]{0,3}(?:`{1,2}|~{1,2}))$/;
const FENCE = /^[ \t]{0,3}(`{3,}|~{3,})/;

/** Streaming markdown → plain speakable text (stage 1 of the splitter). */
export class MarkdownStripper {
  private raw = '';
  private atLineStart = true;
  /** The fence that opened the current code block (```` ``` ```` or `~~~`), if inside one. */
  private fence: string | undefined;
  private previousChar = '';

  push(delta: string): string {
    this.raw += delta.replace(/\r/g, '');
    return this.drain(false);
  }

  flush(): string {
    const out = this.drain(true);
    this.raw = '';
    this.atLineStart = true;
    this.fence = undefined;
    this.previousChar = '';
    return out;
  }

  private drain(final: boolean): string {
    let out = '';
    let pos = 0;
    while (pos < this.raw.length) {
      const step = this.step(pos, final);
      if (step === 'wait') break;
      out += step.out;
      if (step.consumed > 0) this.previousChar = this.raw[pos + step.consumed - 1]!;
      pos += step.consumed;
    }
    this.raw = this.raw.slice(pos);
    return out;
  }

  private step(pos: number, final: boolean): Step {
    const raw = this.raw;
    const newline = raw.indexOf('\n', pos);
    const lineEnd = newline < 0 ? raw.length : newline;
    const lineComplete = newline >= 0 || final;
    if (this.fence !== undefined || (this.atLineStart && FENCE.test(raw.slice(pos, lineEnd)))) {
      // Code is never spoken: consume whole lines, watching for the fence that closes the block.
      if (!lineComplete) return 'wait';
      const line = raw.slice(pos, lineEnd);
      const marker = FENCE.exec(line)?.[1];
      if (this.fence === undefined) this.fence = marker;
      else if (marker && marker[0] === this.fence[0] && marker.length >= this.fence.length && line.trim() === marker) {
        this.fence = undefined;
      }
      this.atLineStart = true;
      return { out: '', consumed: lineEnd - pos + (newline >= 0 ? 1 : 0) };
    }
    if (this.atLineStart) {
      const line = raw.slice(pos, lineEnd);
      if (!lineComplete && PARTIAL_PREFIX.test(line)) return 'wait';
      this.atLineStart = false;
      return { out: '', consumed: LINE_PREFIX.exec(lineComplete ? line + '\n' : line)?.[0].length ?? 0 };
    }
    const ch = raw[pos]!;
    const next = pos + 1 < raw.length ? raw[pos + 1]! : undefined;
    const needsNext = next === undefined && !final;
    switch (ch) {
      case '\n':
        this.atLineStart = true;
        return { out: '\n', consumed: 1 };
      case '*':
      case ']':
        return { out: '', consumed: 1 };
      case '`':
        return this.inlineCode(pos, lineEnd, lineComplete);
      case '[':
        return this.link(pos, lineEnd, lineComplete);
      case '~':
        if (needsNext) return 'wait';
        return next === '~' ? { out: '', consumed: 2 } : { out: ch, consumed: 1 };
      case '!':
        if (needsNext) return 'wait';
        return { out: next === '[' ? '' : ch, consumed: 1 }; // image ![alt](url): speak the alt text
      case '_': {
        // Keep snake_case; drop _emphasis_ and __strong__ markers.
        if (needsNext) return 'wait';
        const inWord = /[\p{L}\p{N}]/u.test(this.previousChar) && next !== undefined && /[\p{L}\p{N}]/u.test(next);
        return { out: inWord ? ch : '', consumed: 1 };
      }
      default:
        return { out: ch, consumed: 1 };
    }
  }

  /** `code` (any run of backticks, closed by the same run on the same line) is dropped. */
  private inlineCode(pos: number, lineEnd: number, lineComplete: boolean): Step {
    const raw = this.raw;
    let runEnd = pos;
    while (runEnd < lineEnd && raw[runEnd] === '`') runEnd++;
    if (runEnd === raw.length && !lineComplete) return 'wait';
    const run = raw.slice(pos, runEnd);
    let search = runEnd;
    while (search < lineEnd) {
      const close = raw.indexOf(run, search);
      if (close < 0 || close >= lineEnd) break;
      let closeEnd = close + run.length;
      if (raw[closeEnd] !== '`' && (closeEnd < raw.length || lineComplete)) return { out: '', consumed: closeEnd - pos };
      while (raw[closeEnd] === '`') closeEnd++;
      search = closeEnd;
    }
    if (!lineComplete) return 'wait';
    return { out: '', consumed: run.length }; // unmatched backticks: drop just the backticks
  }

  /** [text](url) → text; a bracket that is not a link is simply dropped. */
  private link(pos: number, lineEnd: number, lineComplete: boolean): Step {
    const raw = this.raw;
    const close = raw.indexOf(']', pos);
    if (close < 0 || close >= lineEnd) return lineComplete ? { out: '', consumed: 1 } : 'wait';
    if (close + 1 >= raw.length && !lineComplete) return 'wait';
    if (raw[close + 1] !== '(') return { out: '', consumed: 1 };
    const urlEnd = raw.indexOf(')', close);
    if (urlEnd < 0 || urlEnd >= lineEnd) return lineComplete ? { out: '', consumed: 1 } : 'wait';
    const label = raw.slice(pos + 1, close).replace(/[*_`~]/g, '');
    return { out: label, consumed: urlEnd + 1 - pos };
  }
}
