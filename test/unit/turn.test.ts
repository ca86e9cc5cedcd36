import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../server/config.js';
import { ConversationHistory } from '../../server/assistant/history.js';
import { createEngine } from '../../server/engines.js';
import { TurnTimeline } from '../../server/timeline.js';
import { Turn, type TurnContext } from '../../server/turn.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

let fake: FakeOpenAI;

beforeAll(async () => {
  // A long reply streamed with no gap between chunks: what a fast model, or a stream that was
  // held up somewhere and arrives all at once, looks like.
  fake = await startFakeOpenAI({ reply: () => `${'and then some more words '.repeat(800)}.` });
});

afterAll(async () => {
  await fake.close();
});

describe('Turn', () => {
  it('hands the event loop back every few milliseconds while a burst of reply deltas is handled', async () => {
    const { engine } = createEngine(parseSettings({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL }));
    // Counts event-loop iterations: a delta seen in the same iteration as the previous one was
    // handled without the loop (and the 20 ms audio clock's timer) getting a turn in between.
    let iterations = 0;
    let counting = true;
    const count = () => {
      iterations++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);

    const deltas: { at: number; iteration: number }[] = [];
    let turn: Turn | undefined;
    const ctx: TurnContext = {
      engine,
      history: new ConversationHistory({ budgetChars: 100_000, keepImages: 1 }),
      emit: ((event: string) => {
        if (event === 'turn:delta') deltas.push({ at: performance.now(), iteration: iterations });
        if (deltas.length === 3200) turn?.cancel(); // every word seen; no need to speak it
      }) as TurnContext['emit'],
      minSpeechMs: 0,
      speechLookahead: 1,
      takeSnapshot: async () => undefined,
      play: () => undefined,
      whenPlayed: async () => undefined,
      flushPlayback: () => 0,
      onThinking: () => undefined,
    };
    turn = new Turn(ctx, new TurnTimeline(), 1);
    try {
      await turn.run({ kind: 'text', text: 'tell me a long story' });
    } finally {
      counting = false;
    }
    expect(deltas.length).toBeGreaterThanOrEqual(3200);

    let longestMs = 0;
    let first = deltas[0]!;
    for (const delta of deltas) {
      if (delta.iteration !== first.iteration) first = delta;
      longestMs = Math.max(longestMs, delta.at - first.at);
    }
    console.log(`${deltas.length} deltas over ${new Set(deltas.map((d) => d.iteration)).size} loop iterations; longest unbroken stretch ${longestMs.toFixed(1)} ms`);
    // Handled in one go, the burst held the loop ~200 ms here; with the breaks, ~5–15 ms (the
    // openai package parses a whole network read of SSE at once, which this cannot break up).
    expect(longestMs).toBeLessThan(50);
  }, 30_000);
});
