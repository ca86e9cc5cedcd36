/** The chat stage through the `openai` package: a streamed chat completion with the frame as an image. */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Settings } from '../../config.js';
import type { StageSettings } from '../../stage-settings.js';
import type { ChatMessage, ChatModel } from '../engine.js';
import { OpenAIStageClient, type OpenAIClientSettings, StreamGuard, throwIfAborted, untilAborted } from './client.js';
import { stalledError, streamCutError } from './errors.js';

export type OpenAIChatSettings = OpenAIClientSettings & Pick<Settings, 'CHAT_MODEL' | 'IMAGE_DETAIL' | 'SYSTEM_PROMPT'> &
  Partial<Pick<Settings, 'REPLY_MAX_TOKENS'>>;

export class OpenAIChatModel implements ChatModel {
  readonly provider = 'openai' as const;
  readonly api: OpenAIStageClient;

  constructor(
    stage: StageSettings,
    private readonly settings: OpenAIChatSettings,
  ) {
    this.api = new OpenAIStageClient(stage, settings);
  }

  prewarm(): void {
    this.api.prewarm();
  }

  async *chat(history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal): AsyncIterable<string> {
    const context = this.api.context('chat', this.settings.CHAT_MODEL, 'CHAT_MODEL');
    throwIfAborted(signal);
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: this.settings.SYSTEM_PROMPT },
      ...[...history, question].map((message) => this.toMessageParam(message)),
    ];
    const guard = new StreamGuard(signal, this.settings.MODEL_TIMEOUT_MS);
    let streaming = false;
    let finished = false;
    try {
      const stream = await untilAborted(
        this.api.client.chat.completions.create(
          {
            model: context.model,
            stream: true,
            messages,
            ...(this.settings.REPLY_MAX_TOKENS ? { max_completion_tokens: this.settings.REPLY_MAX_TOKENS } : {}),
          },
          { signal: guard.signal },
        ),
        signal,
      );
      streaming = true;
      const chunks = stream[Symbol.asyncIterator]();
      for (let next = await guard.next(chunks.next()); !next.done; next = await guard.next(chunks.next())) {
        const choice = next.value.choices[0];
        if (choice?.delta?.content) yield choice.delta.content;
        if (choice?.finish_reason) finished = true;
      }
    } catch (error) {
      throw this.api.failure(error, signal, streaming, context, guard);
    } finally {
      guard.close();
    }
    // The package ends a stream quietly when its signal fires; tell why it ended.
    throwIfAborted(signal);
    if (guard.stalled) throw stalledError(context);
    if (!finished) throw streamCutError(context);
  }

  private toMessageParam(message: ChatMessage): ChatCompletionMessageParam {
    if (message.role === 'assistant') return { role: 'assistant', content: message.text };
    if (!message.image) return { role: 'user', content: message.text };
    const parts: ChatCompletionContentPart[] = [
      { type: 'text', text: message.text },
      {
        type: 'image_url',
        image_url: {
          url: `data:image/jpeg;base64,${message.image.jpeg.toString('base64')}`,
          detail: this.settings.IMAGE_DETAIL,
        },
      },
    ];
    return { role: 'user', content: parts };
  }
}
