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
  modePayload,
  offerPayload,
  sourcePayload,
  textPayload,
  type Emit,
  type HelloReply,
  type OfferReply,
  type ServerToClient,
  type StageDescriptions,
} from './protocol.js';
import { CallLimits, TokenBucket } from './rate-limit.js';
import { Session } from './session.js';
import type { ConversationMode } from './conversation/mode-controller.js';

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

/** Offers waiting behind the one being answered, per socket; more are refused. */
const MAX_QUEUED_OFFERS = 8;

const KNOWN_EVENTS = new Set(['hello', 'rtc:offer', 'talk:start', 'talk:stop', 'cancel', 'source', 'text', 'mode']);

/** socket.io events ⇄ one Session per socket; everything a socket owned is freed when it leaves. */
export function attachSignaling(io: SocketServer, deps: SignalingDeps): { sessions(): number; closeAll(): Promise<void> } {
  const sessions = new Map<string, Session>();
  const { settings } = deps;
  const callLimits = new CallLimits({ maxCalls: settings.MAX_CALLS, maxCallsPerAddress: settings.MAX_CALLS_PER_ADDRESS });
  /** Each session's call slot, freed when the session is forgotten. */
  const callSlots = new WeakMap<Session, () => void>();

  io.on('connection', (socket: Socket) => {
    const log = deps.logger.child({ socket: socket.id });
    const emit: Emit = (event, ...args) => {
      (socket.emit as (e: keyof ServerToClient, ...a: unknown[]) => boolean)(event, ...args);
    };
    const fail = (message: string) => emit('session:error', { kind: 'protocol', message });
    let sessionId: string | undefined;
    let conversation: ConversationHistory | undefined;
    let session: Session | undefined;
    /** The page's conversation mode, kept for the calls this socket makes after it was chosen. */
    let mode: ConversationMode = 'push-to-talk';

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
      void made.setMode(mode);
      return made;
    };

    /** Validates a payload; a bad one gets a clear error and changes nothing. */
    const parse = <T>(schema: ZodType<T>, payload: unknown, event: string): T | undefined => {
      const parsed = schema.safeParse(payload);
      if (parsed.success) return parsed.data;
      fail(`Ignored a malformed "${event}" message.`);
      return undefined;
    };

    // Rate limits: a socket over them is told (once a second at most) and its extra messages
    // dropped; nobody else's call notices.
    const events = new TokenBucket(settings.MAX_EVENTS_PER_SECOND, settings.MAX_EVENTS_PER_SECOND * 2);
    const turns = new TokenBucket(settings.MAX_TURNS_PER_SECOND, 3);
    let toldAt = -Infinity;
    const tellLimited = (message: string) => {
      if (performance.now() - toldAt < 1000) return;
      toldAt = performance.now();
      emit('session:error', { kind: 'rate_limit', message });
    };
    socket.use((packet, next) => {
      if (events.take()) return next();
      const limited = 'Too many messages at once, so some were ignored. Slow down a little.';
      tellLimited(limited);
      const ack = packet.at(-1);
      if (typeof ack === 'function') (ack as (reply: { error: string }) => void)({ error: limited });
    });

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

    /*
     * Offers run one at a time per socket: the previous call is closed (awaited) before the next
     * is made, so however they arrive, one socket owns at most one peer.
     */
    let offerChain: Promise<void> = Promise.resolve();
    let offersQueued = 0;
    const answerOne = async (sdp: string, reply: (r: OfferReply) => void): Promise<void> => {
      const previous = session;
      if (previous) {
        forget(previous);
        await previous.close();
      }
      if (socket.disconnected) return;
      const slot = callLimits.acquire(socket.handshake.address);
      if ('refused' in slot) {
        reply({ error: slot.refused });
        return;
      }
      const fresh = newSession();
      callSlots.set(fresh, slot.release);
      session = fresh;
      sessions.set(socket.id, fresh);
      deps.metrics.activeSessions.inc();
      try {
        const answer = await fresh.answerOffer(sdp);
        reply({ answer: { type: 'answer', sdp: answer } });
      } catch (err) {
        const message = err instanceof OfferError ? err.message : 'The call could not start: the server could not answer the offer.';
        log.warn({ err }, 'offer failed');
        reply({ error: message });
        // A failed offer leaves no half-made call behind.
        forget(fresh);
        await fresh.close();
      }
    };
    socket.on('rtc:offer', (payload: unknown, ack?: (reply: OfferReply) => void) => {
      const reply = (r: OfferReply) => (typeof ack === 'function' ? ack(r) : undefined);
      const offer = offerPayload.safeParse(payload);
      if (!offer.success) {
        reply({ error: 'The offer is malformed (expected { type: "offer", sdp }).' });
        return;
      }
      if (offersQueued >= MAX_QUEUED_OFFERS) {
        reply({ error: 'Too many offers at once: wait for the answer before sending another.' });
        return;
      }
      offersQueued++;
      offerChain = offerChain
        .then(() => answerOne(offer.data.sdp, reply))
        .catch((err: unknown) => log.warn({ err }, 'offer handling failed'))
        .finally(() => {
          offersQueued--;
        });
    });

    /** Drops a session from this socket and the server's count (once). */
    const forget = (leaving: Session) => {
      callSlots.get(leaving)?.();
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
    /** A question (typed or spoken) may start: false, and the caller told, past MAX_TURNS_PER_SECOND. */
    const turnAllowed = (): boolean => {
      if (turns.take()) return true;
      tellLimited('Too many questions at once, so that one was ignored. Wait for the answer.');
      return false;
    };
    socket.on('talk:start', () => {
      const target = needSession('talk:start');
      if (target && turnAllowed()) target.talkStart();
    });
    socket.on('talk:stop', () => needSession('talk:stop')?.talkStop());
    socket.on('cancel', () => needSession('cancel')?.cancel());
    socket.on('source', (payload: unknown) => {
      const source = parse(sourcePayload, payload, 'source');
      if (source) needSession('source')?.setSource(source.kind);
    });
    socket.on('mode', async (payload: unknown, ack?: (reply: { mode: ConversationMode }) => void) => {
      const chosen = parse(modePayload, payload, 'mode');
      if (!chosen) return;
      mode = chosen.mode;
      await session?.setMode(mode);
      if (typeof ack === 'function') ack({ mode });
    });
    socket.on('text', (payload: unknown) => {
      const text = parse(textPayload, payload, 'text');
      const target = text && needSession('text');
      if (text && target && turnAllowed()) target.askText(text.text);
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
