import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offlineSpeak } from '../../server/assistant/offline/speaker.js';
import { demuxOggOpus } from '../../server/media/ogg-opus-demuxer.js';
import { SpeechPlayback } from '../../server/speech-playback.js';
import { probePackets } from '../../scripts/make-test-ogg.js';

const SENTENCES = [
  'The first sentence is the longest one of all.',
  'Then a second.',
  'A third follows.',
  'And the fourth ends it.',
] as const;

interface Recording {
  ogg: Buffer;
  /** ffprobe's MD5 of each audio packet, in order: the reference the played packets must match. */
  packetMd5s: string[];
}

/** Real Ogg-Opus per sentence, made by the project's offline voice (flite → ffmpeg libopus). */
const recordings = new Map<string, Recording>();
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'speech-playback-'));
  await Promise.all(
    SENTENCES.map(async (sentence, index) => {
      const chunks: Buffer[] = [];
      for await (const chunk of offlineSpeak(sentence, new AbortController().signal, { backend: 'flite' })) chunks.push(chunk);
      const ogg = Buffer.concat(chunks);
      const path = join(workDir, `sentence-${index}.ogg`);
      writeFileSync(path, ogg);
      recordings.set(sentence, { ogg, packetMd5s: (await probePackets(path)).map((p) => p.md5) });
    }),
  );
}, 30_000);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

/** How one sentence's speech arrives: when it starts, in what chunks, and whether it breaks. */
interface Delivery {
  firstByteDelayMs?: number;
  chunkBytes?: number;
  chunkDelayMs?: number;
  /** Throw after this many bytes were delivered. */
  failAfterBytes?: number;
}

interface SpeakRequest {
  sentence: string;
  requestedAt: number;
  /** How many sentences had every packet played (and their stream ended) when this was requested. */
  sentencesDoneAtRequest: number;
  endedAt?: number;
  aborted?: boolean;
}

/**
 * A `speak` function that streams the real recordings with the delays each sentence is given, and
 * a `play` function that records what was played; together they see the playback from outside.
 */
class Rig {
  readonly requests: SpeakRequest[] = [];
  readonly played: { md5: string; at: number }[] = [];
  private onPlayed?: () => void;

  constructor(private readonly deliveries: Partial<Record<string, Delivery>> = {}) {}

  /** Like a speaker stage: Opus packets demuxed from the Ogg bytes as they trickle in. */
  readonly speak = (sentence: string, signal: AbortSignal): AsyncIterable<Buffer> => demuxOggOpus(this.stream(sentence, signal));
  readonly play = (packet: Buffer): void => {
    this.played.push({ md5: md5(packet), at: performance.now() });
    this.onPlayed?.();
  };

  private async *stream(sentence: string, signal: AbortSignal): AsyncGenerator<Buffer> {
    const request: SpeakRequest = { sentence, requestedAt: performance.now(), sentencesDoneAtRequest: this.sentencesDone() };
    this.requests.push(request);
    const { ogg } = recordings.get(sentence)!;
    const { firstByteDelayMs = 0, chunkBytes = 700, chunkDelayMs = 0, failAfterBytes } = this.deliveries[sentence] ?? {};
    try {
      await sleep(firstByteDelayMs, undefined, { signal });
      for (let offset = 0; offset < ogg.length; offset += chunkBytes) {
        if (failAfterBytes !== undefined && offset >= failAfterBytes) throw new Error(`voice broke on "${sentence}"`);
        yield ogg.subarray(offset, offset + chunkBytes);
        if (chunkDelayMs > 0) await sleep(chunkDelayMs, undefined, { signal });
      }
      request.endedAt = performance.now();
    } catch (err) {
      if (signal.aborted) request.aborted = true;
      throw err;
    }
  }

  /** Sentences (in order) whose every packet was played and whose stream has ended. */
  sentencesDone(): number {
    let packets = 0;
    let done = 0;
    for (const request of this.requests) {
      packets += recordings.get(request.sentence)!.packetMd5s.length;
      if (request.endedAt === undefined || this.played.length < packets) break;
      done++;
    }
    return done;
  }

  request(sentence: string): SpeakRequest {
    const found = this.requests.find((r) => r.sentence === sentence);
    if (!found) throw new Error(`"${sentence}" was never requested`);
    return found;
  }

  waitForPlayed(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.onPlayed = () => {
        if (this.played.length >= count) resolve();
      };
    });
  }
}

function expectedMd5s(sentences: readonly string[]): string[] {
  return sentences.flatMap((sentence) => recordings.get(sentence)!.packetMd5s);
}

function playback(rig: Rig, lookahead: number, signal = new AbortController().signal): SpeechPlayback {
  return new SpeechPlayback({ speak: rig.speak, play: rig.play, lookahead, signal });
}

describe('SpeechPlayback', () => {
  it('plays every packet of every sentence, in sentence order, even when a later sentence is ready first', async () => {
    const [first, second, third] = SENTENCES;
    // The first sentence trickles in; the second and third arrive at once.
    const rig = new Rig({ [first]: { chunkDelayMs: 25 } });
    const speech = playback(rig, 2);
    for (const sentence of [first, second, third]) speech.add(sentence);
    await speech.finish();

    expect(rig.request(second).endedAt!).toBeLessThan(rig.request(first).endedAt!);
    expect(rig.played.map((p) => p.md5)).toEqual(expectedMd5s([first, second, third]));
    expect(speech.queuedPackets).toBe(rig.played.length);
  });

  it('requests at most `lookahead` sentences ahead of the one playing, and does use the look-ahead', async () => {
    for (const lookahead of [0, 1, 2]) {
      const rig = new Rig(Object.fromEntries(SENTENCES.map((s) => [s, { chunkDelayMs: 8 }])));
      const speech = playback(rig, lookahead);
      for (const sentence of SENTENCES) speech.add(sentence);
      await speech.finish();

      expect(rig.requests.map((r) => r.sentence)).toEqual([...SENTENCES]);
      const ahead = rig.requests.map((r, index) => index - r.sentencesDoneAtRequest);
      expect(Math.max(...ahead), `lookahead ${lookahead}: sentences ahead at each request ${ahead}`).toBe(lookahead);
      expect(rig.played.map((p) => p.md5)).toEqual(expectedMd5s(SENTENCES));
    }
  });

  it("plays the first sentence's packets while its stream is still arriving", async () => {
    const [first] = SENTENCES;
    const rig = new Rig({ [first]: { chunkBytes: 500, chunkDelayMs: 30 } });
    const onFirstBytes: number[] = [];
    const speech = new SpeechPlayback({
      speak: rig.speak,
      play: rig.play,
      lookahead: 1,
      signal: new AbortController().signal,
      onFirstSpeechBytes: () => onFirstBytes.push(performance.now()),
    });
    speech.add(first);
    await speech.finish();

    const { requestedAt, endedAt } = rig.request(first);
    const streamMs = endedAt! - requestedAt;
    expect(streamMs).toBeGreaterThan(200);
    const playedBeforeEnd = rig.played.filter((p) => p.at < endedAt!).length;
    expect(playedBeforeEnd).toBeGreaterThan(recordings.get(first)!.packetMd5s.length / 2);
    expect(rig.played[0]!.at - requestedAt).toBeLessThan(streamMs / 3);
    expect(onFirstBytes).toHaveLength(1);
    expect(onFirstBytes[0]!).toBeLessThanOrEqual(rig.played[0]!.at);
  });

  /** Three sentences, the first trickling in; aborted once 5 of its packets were played. */
  async function abortDuringFirstSentence() {
    const [first, second, third] = SENTENCES;
    const rig = new Rig({ [first]: { chunkBytes: 300, chunkDelayMs: 30 }, [second]: { chunkDelayMs: 30 } });
    const controller = new AbortController();
    const speech = playback(rig, 1, controller.signal);
    for (const sentence of [first, second, third]) speech.add(sentence);
    await rig.waitForPlayed(5);
    const requestedBeforeAbort = rig.requests.length;
    controller.abort();
    const playedAtAbort = rig.played.length;
    const settled = await Promise.race([speech.finish().then(() => 'resolved', () => 'rejected'), sleep(1000, 'hung')]);
    return { rig, speech, requestedBeforeAbort, playedAtAbort, settled };
  }

  it('abort stops play at once and ends the requests in flight', async () => {
    const { rig, playedAtAbort, settled } = await abortDuringFirstSentence();
    expect(settled).not.toBe('hung');
    await sleep(150);
    expect(rig.played.length).toBe(playedAtAbort);
    expect(playedAtAbort).toBeLessThan(recordings.get(SENTENCES[0])!.packetMd5s.length);
    expect(rig.request(SENTENCES[0]).aborted).toBe(true);
    expect(rig.requests.filter((r) => r.endedAt === undefined).every((r) => r.aborted)).toBe(true);
  });

  it('starts no new speech request after an abort', async () => {
    const { rig, requestedBeforeAbort } = await abortDuringFirstSentence();
    await sleep(50);
    expect(rig.requests.map((r) => r.sentence), 'speech requested after the abort').toHaveLength(requestedBeforeAbort);
  });

  it('does not count a sentence cut short by an abort as heard', async () => {
    const { speech } = await abortDuringFirstSentence();
    // Only part of the first sentence was played: no sentence was heard whole.
    expect(speech.sentencesWithin(speech.queuedPackets)).toEqual([]);
  });

  it('sentencesWithin(n) lists only sentences whose every packet is among the first n', async () => {
    const [first, second, third] = SENTENCES;
    const rig = new Rig();
    const speech = playback(rig, 2);
    for (const sentence of [first, second, third]) speech.add(sentence);
    await speech.finish();

    const [a, b, c] = [first, second, third].map((s) => recordings.get(s)!.packetMd5s.length) as [number, number, number];
    expect(speech.sentencesWithin(0)).toEqual([]);
    expect(speech.sentencesWithin(a - 1)).toEqual([]);
    expect(speech.sentencesWithin(a)).toEqual([first]);
    expect(speech.sentencesWithin(a + b - 1)).toEqual([first]);
    expect(speech.sentencesWithin(a + b)).toEqual([first, second]);
    expect(speech.sentencesWithin(a + b + c)).toEqual([first, second, third]);
    expect(speech.queuedPackets).toBe(a + b + c);
  });

  it("rejects finish() when a sentence's speech fails, after playing the sentences before it", async () => {
    const [first, second, third] = SENTENCES;
    const rig = new Rig({ [second]: { failAfterBytes: 1400 } });
    const speech = playback(rig, 2);
    for (const sentence of [first, second, third]) speech.add(sentence);
    await expect(speech.finish()).rejects.toThrow(`voice broke on "${second}"`);
    const firstPackets = recordings.get(first)!.packetMd5s;
    expect(rig.played.slice(0, firstPackets.length).map((p) => p.md5)).toEqual(firstPackets);
    expect(speech.sentencesWithin(speech.queuedPackets)).toEqual([first]);
  });

  it('rejects finish() when the first sentence fails before any byte', async () => {
    const [first, second] = SENTENCES;
    const rig = new Rig({ [first]: { failAfterBytes: 0 } });
    const speech = playback(rig, 1);
    speech.add(first);
    speech.add(second);
    await expect(speech.finish()).rejects.toThrow('voice broke');
    expect(rig.played).toHaveLength(0);
  });

  it('takes no sentences after finish()', async () => {
    const speech = playback(new Rig(), 1);
    await speech.finish();
    expect(() => speech.add(SENTENCES[0])).toThrow();
  });
});
