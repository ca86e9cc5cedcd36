import { setTimeout as sleep } from 'node:timers/promises';
import type { AssistantEngine, ChatMessage, MicSegment } from '../engine.js';
import { describeFrame } from './frame-description.js';
import { offlineSpeak, type OfflineVoiceBackend } from './offline-speaker.js';
import { transcribeWithPocketsphinx } from './pocketsphinx-transcriber.js';

export interface OfflineEngineOptions {
  /** Force a voice instead of the best one installed (see offlineVoiceBackend). */
  voiceBackend?: OfflineVoiceBackend;
  /** Pause between streamed words, so the reply behaves like a model's stream. Default 15 ms. */
  wordDelayMs?: number;
}

/**
 * The engine used with no API key: pocketsphinx hears, a reply is composed from what it heard and
 * from the frame's size, brightness and colours, and espeak-ng/flite speak. It says plainly what
 * it is and how to get a real model.
 */
export class OfflineEngine implements AssistantEngine {
  readonly name = 'offline' as const;
  private readonly voiceBackend: OfflineVoiceBackend | undefined;
  private readonly wordDelayMs: number;

  constructor(options: OfflineEngineOptions = {}) {
    this.voiceBackend = options.voiceBackend;
    this.wordDelayMs = options.wordDelayMs ?? 15;
  }

  transcribe(segment: MicSegment, signal: AbortSignal): Promise<string> {
    return transcribeWithPocketsphinx(segment.pcm, segment.sampleRate, signal);
  }

  async *chat(history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal): AsyncGenerator<string, void, undefined> {
    signal.throwIfAborted();
    const reply = await composeReply(history, question);
    // Words with the whitespace that follows them, so the deltas join back into the reply exactly.
    for (const word of reply.match(/\S+\s*/g) ?? []) {
      signal.throwIfAborted();
      yield word;
      await sleep(this.wordDelayMs, undefined, { signal });
    }
  }

  speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer> {
    return offlineSpeak(sentence, signal, { backend: this.voiceBackend });
  }
}

async function composeReply(history: readonly ChatMessage[], question: ChatMessage): Promise<string> {
  const heard = question.text.trim();
  const parts = [heard ? `I heard: ${heard.replace(/[.!?]+$/, '')}.` : "I didn't catch any words."];
  if (question.image) {
    try {
      parts.push((await describeFrame(question.image.jpeg)).sentence);
    } catch {
      parts.push("I couldn't read the video frame.");
    }
  } else {
    parts.push("The video isn't available yet, so I have no picture to describe.");
  }
  const earlierQuestions = history.filter((message) => message.role === 'user').length;
  if (earlierQuestions > 0) {
    parts.push(`That's question ${earlierQuestions + 1} in this conversation.`);
  }
  parts.push(
    "I'm the offline engine, so I can't really understand pictures; set OPENAI_API_KEY and restart to use a real vision model.",
  );
  return parts.join(' ');
}
