/**
 * What the Realtime server's turn detection means for the call: speech start shows "hearing you"
 * and listening; a commit is answered; speech over a reply stops it only after BARGE_IN_MS, and a
 * shorter one (or speech shorter than MIN_SPEECH_MS) is dropped.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TurnState } from '../../server/protocol.js';
import { RealtimeHandsFree } from '../../server/realtime-hands-free.js';

const settings = { threshold: 0.5, prefixPaddingMs: 300, endSilenceMs: 600, bargeInMs: 600, minSpeechMs: 250 };

function call() {
  const log: string[] = [];
  const silences: number[] = [];
  let state: TurnState = 'ready';
  const handsFree = new RealtimeHandsFree(settings, {
    state: () => state,
    onVoice: (speaking) => log.push(`vad ${speaking}`),
    listening: () => ((state = 'listening'), log.push('listening')),
    bargeIn: () => log.push('barge-in'),
    answer: (itemId) => ((state = 'thinking'), log.push(`answer ${itemId}`)),
    drop: (itemId) => log.push(`drop ${itemId}`),
    idle: () => ((state = 'ready'), log.push('idle')),
    appendSilence: (ms) => silences.push(ms),
  });
  return { log, silences, handsFree, detection: handsFree.detection, setState: (next: TurnState) => (state = next) };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('RealtimeHandsFree', () => {
  it('asks the server for the project settings', () => {
    expect(call().detection).toMatchObject({ threshold: 0.5, prefixPaddingMs: 300, silenceMs: 600 });
  });

  it('answers a question the server committed', () => {
    const { log, detection } = call();
    detection.onSpeechStarted(700);
    detection.onSpeechStopped(2800); // 1000 ms start (after padding) … 2200 ms speech end + 600 ms silence
    detection.onCommitted('item_1');
    expect(log).toEqual(['vad true', 'listening', 'vad false', 'answer item_1']);
  });

  it('drops speech shorter than MIN_SPEECH_MS and goes back to ready', () => {
    const { log, detection } = call();
    detection.onSpeechStarted(700);
    detection.onSpeechStopped(1000 + 100 + 600);
    detection.onCommitted('item_1');
    expect(log).toEqual(['vad true', 'listening', 'vad false', 'drop item_1', 'idle']);
  });

  it('speech over a reply stops it after BARGE_IN_MS, and that question is answered', () => {
    const { log, detection, setState } = call();
    setState('speaking');
    detection.onSpeechStarted(5000);
    vi.advanceTimersByTime(599);
    expect(log).toEqual(['vad true']);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['vad true', 'barge-in', 'listening']);
    detection.onSpeechStopped(8000);
    detection.onCommitted('item_2');
    expect(log.slice(-2)).toEqual(['vad false', 'answer item_2']);
  });

  it('mic audio that stops coming mid-speech goes to the server as silence, so its turn detection can end the turn', () => {
    const { silences, detection, handsFree } = call();
    detection.onSpeechStarted(700);
    for (let i = 0; i < 20; i++) (handsFree.heard(), vi.advanceTimersByTime(20));
    expect(silences).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(silences.length).toBeGreaterThan(0);
    expect(silences.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(300);
    detection.onSpeechStopped(3000);
    const count = silences.length;
    vi.advanceTimersByTime(1000);
    expect(silences).toHaveLength(count);
  });

  it('a cough over a reply (stopped before BARGE_IN_MS) leaves the reply alone and is dropped', () => {
    const { log, detection, setState } = call();
    setState('speaking');
    detection.onSpeechStarted(5000);
    vi.advanceTimersByTime(300);
    detection.onSpeechStopped(5000 + 300 + 400 + 600);
    vi.advanceTimersByTime(2000);
    detection.onCommitted('item_3');
    expect(log).toEqual(['vad true', 'vad false', 'drop item_3']);
  });
});
