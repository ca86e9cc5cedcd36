import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, FrameImage } from '../../server/assistant/engine.js';
import { ConversationHistory, HistoryStore } from '../../server/assistant/history.js';
import { MemoryConversationStore } from '../../server/conversations/memory-store.js';

/** Real JPEG stills (ffmpeg), one solid colour each, so every turn's image is distinguishable. */
function jpegOf(colour: string): FrameImage {
  const jpeg = execFileSync('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `color=c=${colour}:s=64x48`, '-frames:v', '1', '-f', 'mjpeg', 'pipe:1',
  ]);
  return { jpeg, width: 64, height: 48, source: 'camera' };
}

const COLOURS = ['red', 'green', 'blue', 'yellow', 'white'] as const;
let images: Map<string, FrameImage>;

beforeAll(() => {
  images = new Map(COLOURS.map((colour) => [colour, jpegOf(colour)]));
});

function ask(text: string, colour?: (typeof COLOURS)[number]): ChatMessage {
  return { role: 'user', text, ...(colour ? { image: images.get(colour)! } : {}) };
}

const roomy = () => new ConversationHistory({ budgetChars: 1_000_000, keepImages: 2 });

describe('ConversationHistory', () => {
  it('keeps each turn as the question followed by the answer, oldest first', () => {
    const history = roomy();
    history.addTurn(ask('what is this?', 'red'), 'A red card.');
    history.addTurn(ask('and now?'), 'Still red.');
    expect(history.length).toBe(4);
    expect(history.forModel().map((m) => [m.role, m.text])).toEqual([
      ['user', 'what is this?'],
      ['assistant', 'A red card.'],
      ['user', 'and now?'],
      ['assistant', 'Still red.'],
    ]);
  });

  it('keeps a question whose answer was empty (nothing was heard) without an empty reply', () => {
    const history = roomy();
    history.addTurn(ask('hello?'), '   ');
    history.addTurn(ask('are you there?'), 'Yes.');
    expect(history.transcript()).toEqual([
      { role: 'user', text: 'hello?' },
      { role: 'user', text: 'are you there?' },
      { role: 'assistant', text: 'Yes.' },
    ]);
  });

  it('sends only the newest `keepImages` user images again; older turns keep their text', () => {
    const history = new ConversationHistory({ budgetChars: 1_000_000, keepImages: 2 });
    history.addTurn(ask('first', 'red'), 'one');
    history.addTurn(ask('second', 'green'), 'two');
    history.addTurn(ask('third (no picture)'), 'three');
    history.addTurn(ask('fourth', 'blue'), 'four');

    const sent = history.forModel();
    expect(sent.map((m) => m.text)).toEqual(['first', 'one', 'second', 'two', 'third (no picture)', 'three', 'fourth', 'four']);
    const withImage = sent.filter((m) => m.image);
    expect(withImage.map((m) => m.text)).toEqual(['second', 'fourth']);
    expect(withImage[0]!.image!.jpeg.equals(images.get('green')!.jpeg)).toBe(true);
    expect(withImage[1]!.image!.jpeg.equals(images.get('blue')!.jpeg)).toBe(true);
    expect(sent[0]).not.toHaveProperty('image');

    // The stored history is untouched: with a bigger allowance the old image is still there.
    const one = new ConversationHistory({ budgetChars: 1_000_000, keepImages: 1 });
    one.addTurn(ask('a', 'red'), 'x');
    one.addTurn(ask('b', 'green'), 'y');
    expect(one.forModel().filter((m) => m.image).map((m) => m.text)).toEqual(['b']);
    expect(one.forModel().filter((m) => m.image)).toHaveLength(1); // asking twice changes nothing
  });

  it('sends no images at all when keepImages is 0', () => {
    const history = new ConversationHistory({ budgetChars: 1_000_000, keepImages: 0 });
    history.addTurn(ask('look', 'red'), 'red');
    expect(history.forModel().some((m) => m.image)).toBe(false);
  });

  it('drops the oldest whole turns once the conversation passes budgetChars', () => {
    const budgetChars = 1000;
    const history = new ConversationHistory({ budgetChars, keepImages: 2 });
    const turnText = (n: number) => [`question ${n} `.padEnd(100, 'q'), `answer ${n} `.padEnd(200, 'a')] as const;
    for (let n = 1; n <= 10; n++) {
      const [question, answer] = turnText(n);
      history.addTurn(ask(question), answer);
    }
    const kept = history.transcript();
    const size = kept.reduce((sum, m) => sum + m.text.length, 0);
    expect(size).toBeLessThanOrEqual(budgetChars);
    // 300 chars a turn: three whole turns fit, the newest ones, each still question + answer.
    expect(kept).toHaveLength(6);
    expect(kept[0]).toEqual({ role: 'user', text: turnText(8)[0] });
    expect(kept.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect(kept.at(-1)).toEqual({ role: 'assistant', text: turnText(10)[1] });
  });

  it('counts the images it still sends against the budget', () => {
    // Text alone is far below the budget; two recent images (about 3000 characters each) are not.
    const history = new ConversationHistory({ budgetChars: 5000, keepImages: 2 });
    history.addTurn(ask('one', 'red'), 'r');
    history.addTurn(ask('two', 'green'), 'g');
    expect(history.transcript().map((m) => m.text)).toEqual(['two', 'g']);
    // Without images the same texts all stay.
    const textOnly = new ConversationHistory({ budgetChars: 5000, keepImages: 2 });
    textOnly.addTurn(ask('one'), 'r');
    textOnly.addTurn(ask('two'), 'g');
    expect(textOnly.length).toBe(4);
  });

  it('never drops the newest turn, even when it alone is over the budget', () => {
    const history = new ConversationHistory({ budgetChars: 100, keepImages: 2 });
    history.addTurn(ask('short'), 'ok');
    const long = 'x'.repeat(500);
    history.addTurn(ask(long), long);
    expect(history.transcript()).toEqual([
      { role: 'user', text: long },
      { role: 'assistant', text: long },
    ]);
  });

  it('transcript() is text only, for the page after a refresh', () => {
    const history = roomy();
    history.addTurn(ask('what colour?', 'yellow'), 'Yellow.');
    const transcript = history.transcript();
    expect(transcript).toEqual([
      { role: 'user', text: 'what colour?' },
      { role: 'assistant', text: 'Yellow.' },
    ]);
    expect(JSON.stringify(transcript).length).toBeLessThan(100); // no image bytes in it
  });
});

describe('HistoryStore', () => {
  const options = { budgetChars: 100_000, keepImages: 2, maxRecordBytes: 64 * 1024 };
  const memory = () => new MemoryConversationStore({ ttlSeconds: 3600, maxBytes: 64 * 1024, maxCount: 100 });
  const key = (label: string) => `${label}-`.padEnd(43, 'Zq3x');
  /** Saves run in the background after a turn; this waits for them. */
  const saved = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('gives the conversation back for the same key, from the store (a reconnect restores it)', async () => {
    const store = memory();
    const histories = new HistoryStore(store, options);
    (await histories.open(key('page-a'))).addTurn(ask('remember me', 'red'), 'I will.');
    await saved();
    // Another HistoryStore on the same store stands for another worker.
    const restored = await new HistoryStore(store, options).open(key('page-a'));
    expect(restored.transcript()).toEqual([
      { role: 'user', text: 'remember me' },
      { role: 'assistant', text: 'I will.' },
    ]);
    expect(restored.forModel()[0]!.image!.jpeg.equals(images.get('red')!.jpeg)).toBe(true);
  });

  it('never shares a conversation between keys, and files them under a hash, never the key', async () => {
    const store = memory();
    const histories = new HistoryStore(store, options);
    (await histories.open(key('page-a'))).addTurn(ask('secret of A'), 'noted');
    (await histories.open(key('page-b'))).addTurn(ask('question of B'), 'fine');
    await saved();
    expect((await histories.open(key('page-c'))).transcript()).toEqual([]);
    expect((await histories.open(key('page-a'))).transcript().map((m) => m.text)).toEqual(['secret of A', 'noted']);
    expect((await histories.open(key('page-b'))).transcript().map((m) => m.text)).toEqual(['question of B', 'fine']);
    expect(await store.load(key('page-a'))).toBeUndefined();
  });

  it('keeps the stored record under its byte bound: images go first, then the oldest turns', async () => {
    const store = memory();
    const histories = new HistoryStore(store, { ...options, maxRecordBytes: 900 });
    const history = await histories.open(key('page-big'));
    for (let i = 0; i < 20; i++) history.addTurn(ask(`question number ${i} ${'x'.repeat(40)}`, 'blue'), `answer ${i}`);
    await saved();
    const restored = (await histories.open(key('page-big'))).transcript();
    expect(restored.length).toBeGreaterThan(2);
    expect(restored.length).toBeLessThan(40);
    expect(restored.at(-1)!.text).toBe('answer 19');
    expect(restored[0]!.role).toBe('user');
  });

  it('reports a failed save and keeps the conversation in memory', async () => {
    const errors: unknown[] = [];
    const failing = { kind: 'redis' as const, load: async () => undefined, save: async () => { throw new Error('store down'); }, close: async () => {} };
    const history = await new HistoryStore(failing, options, (err) => errors.push(err)).open(key('page-d'));
    history.addTurn(ask('still here?'), 'yes');
    await saved();
    expect(String(errors[0])).toContain('store down');
    expect(history.transcript().length).toBe(2);
  });
});

describe('history limits', () => {
  it('holds only the newest keepImages JPEGs, however many turns had one', () => {
    const history = roomy();
    for (const colour of COLOURS) history.addTurn(ask(`what about ${colour}?`, colour), 'ok');
    expect(history.imageCount).toBe(2);
    const sent = history.forModel().filter((m) => m.image).map((m) => m.image!.jpeg);
    expect(sent).toEqual([images.get('yellow')!.jpeg, images.get('white')!.jpeg]);
    expect(history.length).toBe(10); // the text of every turn stays
  });

  it('keeps at most maxMessages, dropping the oldest whole turns', () => {
    const history = new ConversationHistory({ budgetChars: 1_000_000, keepImages: 2, maxMessages: 4 });
    for (let i = 0; i < 10; i++) history.addTurn(ask(`question ${i}`), `answer ${i}`);
    expect(history.transcript().map((m) => m.text)).toEqual(['question 8', 'answer 8', 'question 9', 'answer 9']);
  });

  it('forgets a conversation nobody used for HISTORY_IDLE_MINUTES (the store expiry)', async () => {
    const clock = { now: 0 };
    const store = new MemoryConversationStore({ ttlSeconds: 60, maxBytes: 64 * 1024, maxCount: 100 }, () => clock.now);
    const histories = new HistoryStore(store, { budgetChars: 100_000, keepImages: 2, maxRecordBytes: 64 * 1024 });
    const pageOld = `page-old-`.padEnd(43, 'Zq3x');
    const pageNew = `page-new-`.padEnd(43, 'Zq3x');
    (await histories.open(pageOld)).addTurn(ask('old'), 'old answer');
    clock.now = 30_000;
    (await histories.open(pageNew)).addTurn(ask('new'), 'new answer');
    await new Promise((resolve) => setTimeout(resolve, 5));
    clock.now = 61_000;
    expect((await histories.open(pageNew)).length).toBe(2);
    expect((await histories.open(pageOld)).length).toBe(0); // expired
  });

  it('drops old JPEGs and extra messages from a restored conversation too', () => {
    const restored = COLOURS.flatMap((colour, i) => [ask(`q ${i}`, colour), { role: 'assistant' as const, text: `a ${i}` }]);
    const history = new ConversationHistory({ budgetChars: 1_000_000, keepImages: 2, maxMessages: 4 }, restored);
    expect(history.length).toBe(4);
    expect(history.imageCount).toBe(2);
  });
});
