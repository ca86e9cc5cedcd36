import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from '../../server/assistant/sentence-splitter.js';

function splitAll(deltas: readonly string[]): string[] {
  const splitter = new SentenceSplitter();
  const sentences: string[] = [];
  for (const delta of deltas) sentences.push(...splitter.push(delta));
  sentences.push(...splitter.flush());
  return sentences;
}

/** A repeatable pseudo-random cut of `text` into deltas of 1–12 characters. */
function randomDeltas(text: string, seed: number): string[] {
  let state = seed;
  const deltas: string[] = [];
  for (let i = 0; i < text.length; ) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const size = 1 + (state % 12);
    deltas.push(text.slice(i, i + size));
    i += size;
  }
  return deltas;
}

const cases: Array<{ name: string; text: string; sentences: string[] }> = [
  {
    name: 'plain sentences',
    text: "Hello there. How are you? I'm fine! Great.",
    sentences: ['Hello there.', 'How are you?', "I'm fine!", 'Great.'],
  },
  {
    name: 'titles and latin abbreviations',
    text: 'I met Dr. Smith and Mr. Jones, e.g. at work, i.e. daily. Then we left.',
    sentences: ['I met Dr. Smith and Mr. Jones, e.g. at work, i.e. daily.', 'Then we left.'],
  },
  {
    name: 'etc. mid-sentence and at the end',
    text: 'Apples, pears, etc. are fruit. Bananas too, etc. Then more.',
    sentences: ['Apples, pears, etc. are fruit.', 'Bananas too, etc.', 'Then more.'],
  },
  {
    name: 'decimals and version numbers',
    text: 'Pi is 3.14 roughly. Node 20.9.0 is needed, not v1.2.3.',
    sentences: ['Pi is 3.14 roughly.', 'Node 20.9.0 is needed, not v1.2.3.'],
  },
  {
    name: 'URLs',
    text: 'Visit https://example.com/a.b?x=1 for more. Or see https://x.org/y.html. Bye.',
    sentences: ['Visit https://example.com/a.b?x=1 for more.', 'Or see https://x.org/y.html.', 'Bye.'],
  },
  {
    name: 'ellipses',
    text: 'Well... let me think. Hmm… Okay, done.',
    sentences: ['Well... let me think.', 'Hmm…', 'Okay, done.'],
  },
  {
    name: 'colon and newline boundaries',
    text: 'Here is the plan: first we go\nthen we stop',
    sentences: ['Here is the plan:', 'first we go', 'then we stop'],
  },
  {
    name: 'initials and quotes',
    text: 'J. R. R. Tolkien wrote it. He said "Stop." Then (quietly.) left.',
    sentences: ['J. R. R. Tolkien wrote it.', 'He said "Stop."', 'Then (quietly.)', 'left.'],
  },
  {
    name: 'fenced code blocks are not spoken',
    text: 'Run this:\n```bash\nnpm start. Now\necho "hi!" \n```\nThen open it.\n  ~~~\nmore code. X\n```\n~~~~\nDone.',
    sentences: ['Run this:', 'Then open it.', 'Done.'],
  },
  {
    name: 'fence at the very start, longer closing fence, unclosed fence at the end',
    text: '```js\nconst a = 1. b\n````\nAfter code.\n```\nnever. spoken\n',
    sentences: ['After code.'],
  },
  {
    name: 'inline code is dropped',
    text: 'Use `npm i. x` to install, or ``a ` b``. Done.',
    sentences: ['Use to install, or .', 'Done.'],
  },
  {
    name: 'markdown markup is stripped',
    text:
      '# Title\n\n**Bold** text and _emph_ here, my_var_name too. ~~old~~ new.\n- item one\n* item two\n' +
      '1. first\n12) second\n> quoted [link text](https://a.b/c.d) works. ![a cat](x.png)\n---\n',
    sentences: [
      'Title',
      'Bold text and emph here, my_var_name too.',
      'old new.',
      'item one',
      'item two',
      'first',
      'second',
      'quoted link text works.',
      'a cat',
    ],
  },
  {
    name: 'brackets that are not links',
    text: 'See note [1] here. Array[0] is first.',
    sentences: ['See note 1 here.', 'Array0 is first.'],
  },
  {
    name: 'whitespace and punctuation-only text says nothing',
    text: '   \n\n  \n ... \n',
    sentences: [],
  },
  {
    name: 'short sentences go out alone',
    text: 'Yes. No. OK!',
    sentences: ['Yes.', 'No.', 'OK!'],
  },
  {
    name: 'number lines that are not list items',
    text: '2024 was a year.\n3.5 is a number. -5 degrees.',
    sentences: ['2024 was a year.', '3.5 is a number.', '-5 degrees.'],
  },
];

describe('SentenceSplitter', () => {
  for (const { name, text, sentences } of cases) {
    it(`${name}: whole text`, () => {
      expect(splitAll([text])).toEqual(sentences);
    });

    it(`${name}: same sentences for every way of cutting the deltas`, () => {
      expect(splitAll([...text])).toEqual(sentences);
      for (let cut = 1; cut < text.length; cut++) {
        expect(splitAll([text.slice(0, cut), text.slice(cut)])).toEqual(sentences);
      }
      for (let seed = 1; seed <= 20; seed++) expect(splitAll(randomDeltas(text, seed))).toEqual(sentences);
    });
  }

  it('every pair of cut points on a mixed reply gives the same sentences', () => {
    const text = 'Dr. Who said: `x.y` e.g. **hi**.\n```\nz. A\n```\n- [a.b](c.d) etc. Ok... fine.';
    const reference = splitAll([text]);
    expect(reference).toEqual(['Dr. Who said:', 'e.g. hi.', 'a.b etc.', 'Ok... fine.']);
    for (let a = 1; a < text.length; a++) {
      for (let b = a + 1; b < text.length; b++) {
        expect(splitAll([text.slice(0, a), text.slice(a, b), text.slice(b)])).toEqual(reference);
      }
    }
  });

  it('emits a sentence as soon as its end is certain', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('Hello there.')).toEqual([]); // could still be "there.com"
    expect(splitter.push(' Ho')).toEqual(['Hello there.']);
    expect(splitter.push('w are you? I')).toEqual(['How are you?']);
    expect(splitter.push(' am fine')).toEqual([]);
    expect(splitter.flush()).toEqual(['I am fine']);
  });

  it('waits on a trailing period that may be a decimal point', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('It costs 3.')).toEqual([]);
    expect(splitter.push('14 dollars.')).toEqual([]);
    expect(splitter.flush()).toEqual(['It costs 3.14 dollars.']);
  });

  it('does not hold speech back while a code block streams', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('Like this:\n```py\nprint(1). X\n')).toEqual(['Like this:']);
    expect(splitter.push('```\nThat prints one. And')).toEqual(['That prints one.']);
    expect(splitter.flush()).toEqual(['And']);
  });

  it('can be reused after flush', () => {
    const splitter = new SentenceSplitter();
    splitter.push('```\nunclosed code');
    expect(splitter.flush()).toEqual([]);
    expect(splitter.push('Fresh start. ')).toEqual(['Fresh start.']);
    expect(splitter.flush()).toEqual([]);
  });
});
