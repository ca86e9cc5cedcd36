/** The socket.io events between the page (public/js) and the server; both sides follow this file. */
import { z } from 'zod';

export type TurnState = 'ready' | 'listening' | 'thinking' | 'speaking';
export type VideoSource = 'camera' | 'screen';

export interface TimelineEntry {
  mark: string;
  label: string;
  atMs: number;
}

/** Server → page. */
export interface ServerToClient {
  state: (payload: { state: TurnState }) => void;
  'turn:user': (payload: { turnId: string; text: string }) => void;
  'turn:delta': (payload: { turnId: string; text: string }) => void;
  'turn:done': (payload: {
    turnId: string;
    text: string;
    cancelled?: boolean;
    latencyMs?: number;
    timeline?: TimelineEntry[];
  }) => void;
  notice: (payload: { message: string }) => void;
  'session:error': (payload: { kind: string; message: string }) => void;
}

export interface HelloReply {
  engine: 'offline' | 'openai';
  engineNote?: string;
  history: { role: 'user' | 'assistant'; text: string }[];
}
export interface OfferReply {
  answer?: { type: 'answer'; sdp: string };
  error?: string;
}

/** Page → server payloads, validated because they come from the network. */
export const helloPayload = z.object({ sessionId: z.string().min(8).max(100).regex(/^[\w-]+$/) });
export const offerPayload = z.object({ type: z.literal('offer'), sdp: z.string().min(10).max(200_000) });
export const sourcePayload = z.object({ kind: z.enum(['camera', 'screen']) });
export const textPayload = z.object({ text: z.string().trim().min(1).max(4000) });

export type Emit = <E extends keyof ServerToClient>(event: E, ...args: Parameters<ServerToClient[E]>) => void;
