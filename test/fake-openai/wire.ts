/**
 * OpenAI wire-format pieces for the fake server: error bodies, chat messages in, chat completion
 * chunks out (as the real API sends them), and the default reply.
 */
import { randomBytes } from 'node:crypto';
import { summariseImage } from './media.js';

export interface ChatTurn {
  role: string;
  /** All text parts of the message, joined. */
  text: string;
  /** The decoded image of an `image_url` data-URL part, if any. */
  image?: { mimeType: string; bytes: Buffer; detail?: string; url: string };
}

export interface ChatReplyInput {
  model: string;
  messages: ChatTurn[];
  /** The whole parsed request body. */
  body: Record<string, unknown>;
}

/** The `{"error": {...}}` body OpenAI sends with each failure status. */
export function openAIErrorBody(status: number, model: string, message?: string, code?: string, key?: string) {
  const masked = key ? `${key.slice(0, 3)}***${key.slice(-4)}` : '';
  const [defaultMessage, type, defaultCode]: [string, string, string | null] =
    status === 401 ? [`Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key']
    : status === 403 ? ['You are not allowed to use this model.', 'invalid_request_error', 'model_not_allowed']
    : status === 404 ? [`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found']
    : status === 429 ? [`Rate limit reached for ${model} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.`, 'requests', 'rate_limit_exceeded']
    : status >= 500 ? ['The server had an error while processing your request. Sorry about that!', 'server_error', null]
    : ['Invalid request.', 'invalid_request_error', null];
  return { error: { message: message ?? defaultMessage, type, param: null, code: code ?? defaultCode } };
}

type ContentPart = { type?: unknown; text?: unknown; image_url?: { url?: unknown; detail?: unknown } };

/** Reads the request's `messages`; undefined when it is not a well-formed list. */
export function readChatTurns(messages: unknown): ChatTurn[] | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const turns: ChatTurn[] = [];
  for (const message of messages as Array<{ role?: unknown; content?: unknown }>) {
    if (typeof message?.role !== 'string') return undefined;
    const parts: ContentPart[] =
      typeof message.content === 'string' ? [{ type: 'text', text: message.content }]
      : Array.isArray(message.content) ? (message.content as ContentPart[])
      : [];
    const turn: ChatTurn = { role: message.role, text: '' };
    const texts: string[] = [];
    for (const part of parts) {
      if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
      const url = part.type === 'image_url' ? part.image_url?.url : undefined;
      const dataUrl = typeof url === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null;
      if (typeof url === 'string' && dataUrl) {
        const detail = typeof part.image_url?.detail === 'string' ? part.image_url.detail : undefined;
        turn.image = { mimeType: dataUrl[1], bytes: Buffer.from(dataUrl[2], 'base64'), detail, url };
      }
    }
    turn.text = texts.join('\n');
    turns.push(turn);
  }
  return turns;
}

/** Echoes the last user question and says what the image looks like. */
export async function defaultReply({ messages }: ChatReplyInput): Promise<string> {
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  const heard = `You asked: "${question?.text ?? ''}".`;
  if (!question?.image) return `${heard} I was not sent a picture.`;
  const seen = await summariseImage(question.image.bytes);
  const [r, g, b] = seen.meanRgb;
  return `${heard} The picture is ${seen.width} by ${seen.height} pixels and mostly ${seen.colourName}, mean colour ${r}, ${g}, ${b}.`;
}

/**
 * The server-sent events of a streamed chat completion, one string per event, as OpenAI sends
 * them: a role delta, content deltas (roughly one word each), a `finish_reason: "stop"` chunk,
 * an optional usage chunk, then `[DONE]`.
 */
export function chatCompletionEvents(model: string, reply: string, includeUsage: boolean): string[] {
  const id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], usage: unknown = null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices, ...(includeUsage ? { usage } : {}) })}\n\n`;
  const choice = (delta: object, finishReason: string | null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });
  const words = reply.match(/\s*\S+/g) ?? [];
  const events = [chunk([choice({ role: 'assistant', content: '', refusal: null }, null)])];
  for (const word of words) events.push(chunk([choice({ content: word }, null)]));
  events.push(chunk([choice({}, 'stop')]));
  if (includeUsage) {
    const completionTokens = words.length;
    events.push(chunk([], { prompt_tokens: 100, completion_tokens: completionTokens, total_tokens: 100 + completionTokens }));
  }
  events.push('data: [DONE]\n\n');
  return events;
}
