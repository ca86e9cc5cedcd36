/**
 * One benchmark client: a socket.io connection speaking server/protocol.ts plus a werift peer
 * (ClientPeer) whose mic and camera are fed by the shared MediaPump.
 */
import { randomBytes } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import type { RtpPacket } from 'werift';
import type { HelloReply, OfferReply, ServerToClient, TimelineEntry } from '../../server/protocol.js';
import { ClientPeer } from '../lib/client-peer.js';
import { MicFeed, type MediaPump } from './media-pump.js';

interface ClientToServer {
  hello: (payload: { sessionId: string }, ack: (reply: HelloReply) => void) => void;
  'rtc:offer': (payload: { type: 'offer'; sdp: string }, ack: (reply: OfferReply) => void) => void;
  'talk:start': () => void;
  'talk:stop': () => void;
  cancel: () => void;
  text: (payload: { text: string }) => void;
  mode: (payload: { mode: 'push-to-talk' | 'hands-free' }, ack: (reply: { mode: string }) => void) => void;
}

export type TurnEnd =
  | { kind: 'done'; at: number; turnId: string; text: string; cancelled: boolean; latencyMs?: number; timeline: TimelineEntry[] }
  | { kind: 'notice'; at: number; message: string }
  | { kind: 'error'; at: number; message: string };

/** The server's silence frame (f8 ff fe): what the sender plays when it has no speech queued. */
export function isSilence(rtp: RtpPacket): boolean {
  return rtp.payload.length <= 3 && rtp.payload[0] === 0xf8;
}

export class BenchSession {
  readonly mic: MicFeed;
  private readonly ends: TurnEnd[] = [];
  /** What the server heard (turn:user), in arrival order; cleared by clearTurnEnds. */
  readonly userTexts: { turnId: string; text: string; at: number }[] = [];
  private wakeWaiter?: () => void;
  private stopPump?: () => void;
  /** Every reply RTP packet (speech and silence), with its arrival time on performance.now(). */
  onReplyPacket?: (rtp: RtpPacket, at: number) => void;
  closed = false;

  private constructor(
    readonly socket: Socket<ServerToClient, ClientToServer>,
    readonly peer: ClientPeer,
    silence: Buffer,
  ) {
    this.mic = new MicFeed(silence);
    const push = (end: TurnEnd) => {
      this.ends.push(end);
      this.wakeWaiter?.();
    };
    socket.on('turn:done', (p) =>
      push({ kind: 'done', at: performance.now(), turnId: p.turnId, text: p.text, cancelled: p.cancelled === true, latencyMs: p.latencyMs, timeline: p.timeline ?? [] }),
    );
    socket.on('turn:user', (p) => this.userTexts.push({ turnId: p.turnId, text: p.text, at: performance.now() }));
    socket.on('notice', (p) => push({ kind: 'notice', at: performance.now(), message: p.message }));
    socket.on('session:error', (p) => push({ kind: 'error', at: performance.now(), message: `${p.kind}: ${p.message}` }));
    socket.on('disconnect', (reason) => {
      if (!this.closed) push({ kind: 'error', at: performance.now(), message: `socket disconnected: ${reason}` });
    });
    peer.onSpeechPacket = (rtp, at) => this.onReplyPacket?.(rtp, at);
  }

  /** Connects, says hello, makes the call (real ICE + DTLS-SRTP) and starts mic + camera. */
  static async open(baseUrl: string, pump: MediaPump, silence: Buffer): Promise<BenchSession> {
    const socket: Socket<ServerToClient, ClientToServer> = io(baseUrl, {
      transports: ['websocket'],
      rejectUnauthorized: false,
      reconnection: false,
      forceNew: true,
      timeout: 10_000,
    });
    const peer = new ClientPeer({ keepReceived: false });
    const session = new BenchSession(socket, peer, silence);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      await socket.timeout(10_000).emitWithAck('hello', { sessionId: randomBytes(32).toString('base64url') });
      const reply = await socket.timeout(15_000).emitWithAck('rtc:offer', { type: 'offer', sdp: await peer.offer() });
      if (!reply.answer) throw new Error(`the server refused the offer: ${reply.error ?? 'no answer'}`);
      await peer.accept(reply.answer.sdp);
      session.stopPump = pump.add(peer, session.mic);
      return session;
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  /** The next turn:done / notice / session:error, or undefined after `timeoutMs`. */
  async nextTurnEnd(timeoutMs: number): Promise<TurnEnd | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (this.ends.length === 0) {
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakeWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeWaiter = undefined;
    }
    return this.ends.shift();
  }

  /** Forgets turn ends that arrived before now. */
  clearTurnEnds(): void {
    this.ends.length = 0;
    this.userTexts.length = 0;
  }

  talkStart(): void {
    this.socket.emit('talk:start');
  }

  talkStop(): void {
    this.socket.emit('talk:stop');
  }

  /** Stops the reply that is playing (the page's Escape). */
  cancel(): void {
    this.socket.emit('cancel');
  }

  /** Switches the conversation mode; resolves once it is in force on the server. */
  async setMode(mode: 'push-to-talk' | 'hands-free'): Promise<void> {
    await this.socket.timeout(10_000).emitWithAck('mode', { mode });
  }

  ask(text: string): void {
    this.socket.emit('text', { text });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopPump?.();
    this.onReplyPacket = undefined;
    this.socket.disconnect();
    await this.peer.close().catch(() => undefined);
  }
}
