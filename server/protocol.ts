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
  /** While Space is held (streamed STT): the question's text so far; '' drops it. */
  'turn:partial': (payload: { text: string }) => void;
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
  /** Hands-free: the server's VAD hears the user start (true) or stop (false) talking. */
  vad: (payload: { speaking: boolean }) => void;
  /** The server's side of the media connection failed (ICE or DTLS); the page makes a new offer. */
  'rtc:failed': (payload: { message: string }) => void;
  'session:error': (payload: { kind: string; message: string }) => void;
}

/** What serves one stage, as the page shows it. */
export interface StageDescription {
  provider: 'offline' | 'openai';
  /** e.g. `api.openai.com`, `127.0.0.1:11434`, or `local`. */
  host: string;
  model?: string;
  /** Speech-to-text: whether the mic audio streams while the user talks. */
  streaming?: boolean;
  /** Text-to-speech: the audio format asked of the server. */
  format?: string;
}
export type StageDescriptions = Record<'stt' | 'chat' | 'tts', StageDescription>;

export interface HelloReply {
  engine: 'offline' | 'openai' | 'mixed' | 'realtime';
  engineNote?: string;
  /** Which provider serves each stage. */
  stages?: StageDescriptions;
  history: { role: 'user' | 'assistant'; text: string }[];
  /** The process serving this connection (`host:pid`). */
  instance?: string;
  /** STUN/TURN servers for the page's RTCPeerConnection (ICE_SERVERS). */
  iceServers?: { urls: string | string[]; username?: string; credential?: string }[];
}
export interface OfferReply {
  answer?: { type: 'answer'; sdp: string };
  error?: string;
}

/** Page → server payloads, validated because they come from the network. */
/** `sessionId`: the page's secret conversation key; its strength is checked in signaling (conversation-key.ts). */
export const helloPayload = z.object({ sessionId: z.string().min(1).max(200) });
export const offerPayload = z.object({ type: z.literal('offer'), sdp: z.string().min(10).max(200_000) });
export const sourcePayload = z.object({ kind: z.enum(['camera', 'screen']) });
export const modePayload = z.object({ mode: z.enum(['push-to-talk', 'hands-free']) });
export const textPayload = z.object({ text: z.string().trim().min(1).max(4000) });

export type Emit = <E extends keyof ServerToClient>(event: E, ...args: Parameters<ServerToClient[E]>) => void;
