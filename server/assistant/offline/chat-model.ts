import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatMessage, ChatModel } from '../engine.js';
import { describeFrame } from './frame-description.js';

export interface OfflineChatOptions {
  /** Pause between streamed words, so the reply behaves like a model's stream. Default 15 ms. */
  wordDelayMs?: number;
}

/**
 * The offline chat stage, used with no API key: a reply composed from what was heard and from the
 * frame's size, brightness and colours. It says plainly what it is and how to get a real model.
 */
export class OfflineChatModel implements ChatModel {
  readonly provider = 'offline' as const;
  private readonly wordDelayMs: number;

  constructor(options: OfflineChatOptions = {}) {
    this.wordDelayMs = options.wordDelayMs ?? 15;
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
