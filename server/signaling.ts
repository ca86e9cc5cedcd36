import type { Server as SocketServer, Socket } from 'socket.io';
import type { ZodType } from 'zod';
import type { AssistantEngine } from './assistant/engine.js';
import type { ConversationHistory, HistoryStore } from './assistant/history.js';
import { weakKeyReason } from './conversations/conversation-key.js';
import type { Settings } from './config.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import { OfferError } from './media/peer.js';
import {
  helloPayload,
  offerPayload,
  sourcePayload,
  textPayload,
  type Emit,
  type HelloReply,
  type OfferReply,
  type ServerToClient,
  type StageDescriptions,
} from './protocol.js';
import { Session } from './session.js';

export interface SignalingDeps {
  engine: AssistantEngine;
  engineNote?: string;
  /** Which provider serves each stage (shown on the page). */
  stages?: StageDescriptions;
  settings: Settings;
  logger: Logger;
  metrics: ServerMetrics;
  histories: HistoryStore;
  errorVoice?: (sentence: string, signal: AbortSignal) => AsyncIterable<Buffer>;
  /** Which process answers (DESIGN.md "Access and scale"), told to the page at hello. */
  instance?: string;
  /** STUN/TURN servers the page's RTCPeerConnection should use too (ICE_SERVERS). */
  iceServers?: HelloReply['iceServers'];
}

const KNOWN_EVENTS = new Set(['hello', 'rtc:offer', 'talk:start', 'talk:stop', 'cancel', 'source', 'text']);

/** socket.io events ⇄ one Session per socket; everything a socket owned is freed when it leaves. */
export function attachSignaling(io: SocketServer, deps: SignalingDeps): { sessions(): number; closeAll(): Promise<void> } {
  const sessions = new Map<string, Session>();

  io.on('connection', (socket: Socket) => {
    const log = deps.logger.child({ socket: socket.id });
    const emit: Emit = (event, ...args) => {
      (socket.emit as (e: keyof ServerToClient, ...a: unknown[]) => boolean)(event, ...args);
    };
    const fail = (message: string) => emit('session:error', { kind: 'protocol', message });
    let sessionId: string | undefined;
    let conversation: ConversationHistory | undefined;
    let session: Session | undefined;

    const newSession = () => {
      const made = new Session({
        engine: deps.engine,
        settings: deps.settings,
        logger: log,
        metrics: deps.metrics,
        emit,
        ...(deps.errorVoice ? { errorVoice: deps.errorVoice } : {}),
      });
      if (conversation) made.attachHistory(conversation);
      return made;
    };

    /** Validates a payload; a bad one gets a clear error and changes nothing. */
    const parse = <T>(schema: ZodType<T>, payload: unknown, event: string): T | undefined => {
      const parsed = schema.safeParse(payload);
      if (parsed.success) return parsed.data;
      fail(`Ignored a malformed "${event}" message.`);
      return undefined;
    };

    socket.onAny((event: string) => {
      if (!KNOWN_EVENTS.has(event)) fail(`Unknown event "${String(event).slice(0, 40)}".`);
    });

    socket.on('hello', async (payload: unknown, ack?: (reply: HelloReply) => void) => {
      const hello = parse(helloPayload, payload, 'hello');
      if (!hello) return;
      const weak = weakKeyReason(hello.sessionId);
      if (weak) {
        fail(`The page's conversation key is too weak (${weak}); reload the page to get a new one.`);
        return;
      }
      sessionId = hello.sessionId;
      let history: ConversationHistory;
      try {
        history = await deps.histories.open(sessionId);
      } catch (err) {
        // The store is away (e.g. Redis down): the call goes on with a fresh conversation.
        log.warn({ err }, 'conversation store unavailable; starting a new conversation');
        history = deps.histories.fresh();
      }
      if (sessionId !== hello.sessionId || socket.disconnected) return;
      conversation = history;
      session?.attachHistory(history);
      if (typeof ack === 'function') {
        ack({
          engine: deps.engine.name,
          ...(deps.engineNote ? { engineNote: deps.engineNote } : {}),
          ...(deps.stages ? { stages: deps.stages } : {}),
          ...(deps.instance ? { instance: deps.instance } : {}),
          ...(deps.iceServers?.length ? { iceServers: deps.iceServers } : {}),
          history: history.transcript(),
        });
      }
    });

    socket.on('rtc:offer', async (payload: unknown, ack?: (reply: OfferReply) => void) => {
      const reply = (r: OfferReply) => (typeof ack === 'function' ? ack(r) : undefined);
      const offer = offerPayload.safeParse(payload);
      if (!offer.success) {
        reply({ error: 'The offer is malformed (expected { type: "offer", sdp }).' });
        return;
      }
      // A new offer replaces the call: the old one is closed first (a refresh of the peer).
      const previous = session;
      if (previous) forget(previous);
      await previous?.close();
      if (socket.disconnected) return;
      const fresh = newSession();
      session = fresh;
      sessions.set(socket.id, fresh);
      deps.metrics.activeSessions.inc();
      try {
        const sdp = await fresh.answerOffer(offer.data.sdp);
        reply({ answer: { type: 'answer', sdp } });
      } catch (err) {
        const message = err instanceof OfferError ? err.message : 'The server could not answer the offer.';
        log.warn({ err }, 'offer failed');
        reply({ error: message });
        // A failed offer leaves no half-made call behind.
        if (session === fresh) forget(fresh);
        await fresh.close();
      }
    });

    /** Drops a session from this socket and the server's count (once). */
    const forget = (leaving: Session) => {
      if (session === leaving) session = undefined;
      if (sessions.get(socket.id) === leaving) {
        sessions.delete(socket.id);
        deps.metrics.activeSessions.dec();
      }
    };

    const needSession = (event: string): Session | undefined => {
      if (!session) fail(`"${event}" needs a call first (send rtc:offer).`);
      return session;
    };
    socket.on('talk:start', () => needSession('talk:start')?.talkStart());
    socket.on('talk:stop', () => needSession('talk:stop')?.talkStop());
    socket.on('cancel', () => needSession('cancel')?.cancel());
    socket.on('source', (payload: unknown) => {
      const source = parse(sourcePayload, payload, 'source');
      if (source) needSession('source')?.setSource(source.kind);
    });
    socket.on('text', (payload: unknown) => {
      const text = parse(textPayload, payload, 'text');
      if (text) needSession('text')?.askText(text.text);
    });

    socket.on('disconnect', async () => {
      const leaving = session;
      if (!leaving) return;
      forget(leaving);
      await leaving.close();
      log.info('session closed');
    });
  });

  return {
    sessions: () => sessions.size,
    closeAll: async () => {
      await Promise.all([...sessions.values()].map((s) => s.close()));
      sessions.clear();
    },
  };
}
