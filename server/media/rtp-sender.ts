import { randomInt } from 'node:crypto';
import { RtpHeader, RtpPacket } from 'werift';
import { OPUS_SILENCE_FRAME, opusPacketSamples48k } from './opus-toc.js';
import { sharedPacketClock, type PacketClock } from './packet-clock.js';

const SAMPLES_PER_MS = 48; // Opus RTP clock is always 48 kHz (RFC 7587)
const LATE_THRESHOLD_MS = 5;

export interface PacketSentInfo {
  silence: boolean;
  marker: boolean;
  lateByMs: number;
  sequenceNumber: number;
  timestamp: number;
  /** Audio in the packet, in 48 kHz samples. */
  durationSamples: number;
  /** The clock slot the packet went out on. */
  tickIndex: number;
}

export interface PacedOpusSenderOptions {
  send: (rtp: RtpPacket) => void;
  payloadType: number;
  ssrc: number;
  clock?: PacketClock;
  onPacketSent?: (info: PacketSentInfo) => void;
  /** Random when omitted (RFC 3550 §5.1); fixed values are for tests. */
  initialSequenceNumber?: number;
  initialTimestamp?: number;
}

export interface PacedOpusSenderStats {
  packetsSent: number;
  silencePackets: number;
  /** Packets sent more than 5 ms after their clock slot. */
  latePackets: number;
  /** Clock slots lost to event-loop stalls while this sender ran (their time still advances timestamps). */
  skippedTicks: number;
}

/**
 * Sends queued Opus packets as RTP on the shared 20 ms clock, filling gaps with silence frames.
 *
 * Media time is tied to wall time: at each tick the sender sends until the audio it has sent
 * covers the end of the current 20 ms slot. A 20 ms packet is one per tick; a 60 ms packet goes
 * out on one tick and the next two send nothing; two 10 ms packets share a tick. The RTP
 * timestamp of a packet is where it starts on that media timeline, so it advances by the previous
 * packet's duration, and by the wall time of any skipped or idle slots.
 */
export class PacedOpusSender {
  private readonly options: PacedOpusSenderOptions;
  private readonly clock: PacketClock;
  private unsubscribe: (() => void) | undefined;
  // Queue as parallel arrays with a moving head: no per-packet objects, no O(n) shift().
  private queuedPackets: Buffer[] = [];
  private queuedSamples: number[] = [];
  private queueHead = 0;
  private queuedSamplesTotal = 0;
  private sequenceNumber: number;
  private readonly timestampBase: number;
  /** Clock slot that maps to `originSamples` on the media timeline; set on the first tick after start(). */
  private originTickIndex: number | undefined;
  private originSamples = 0;
  /** End of the audio sent so far, in samples on the media timeline (timestamp − base). */
  private sentUntilSamples = 0;
  private lastSentWasSpeech = false;
  /** The clock slot of the latest tick, while running. */
  private lastTickIndex: number | undefined;
  private drainWaiters: Array<() => void> = [];
  private readonly counters: PacedOpusSenderStats = { packetsSent: 0, silencePackets: 0, latePackets: 0, skippedTicks: 0 };

  constructor(options: PacedOpusSenderOptions) {
    this.options = options;
    this.clock = options.clock ?? sharedPacketClock;
    this.sequenceNumber = (options.initialSequenceNumber ?? randomInt(0x10000)) & 0xffff;
    this.timestampBase = (options.initialTimestamp ?? randomInt(0x1_0000_0000)) >>> 0;
  }

  start(): void {
    if (this.unsubscribe) return;
    this.originTickIndex = undefined; // a restart continues the timeline where it stopped
    this.lastTickIndex = undefined;
    this.unsubscribe = this.clock.subscribe(this.onTick);
  }

  /** Stops sending and drops the queue; pending whenDrained() promises resolve. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.clearQueue();
    this.lastSentWasSpeech = false;
    this.resolveDrainWaiters();
  }

  /**
   * Queues one Opus packet; throws if it is not a valid Opus packet. The first packet of a
   * talk-spurt goes out at once rather than at the next tick: it takes the next slot's timestamp
   * (up to 20 ms early, which the receiver's jitter buffer absorbs), and that tick then sends
   * nothing, so the grid stays intact and reply audio starts up to a frame sooner.
   */
  enqueue(opusPacket: Buffer): void {
    const samples = opusPacketSamples48k(opusPacket);
    const startsSpurt = this.queueLength === 0 && !this.lastSentWasSpeech;
    this.queuedPackets.push(opusPacket);
    this.queuedSamples.push(samples);
    this.queuedSamplesTotal += samples;
    if (startsSpurt && this.running && this.lastTickIndex !== undefined) {
      const nextSlotStart = this.originSamples + (this.lastTickIndex + 1 - this.originTickIndex!) * 960;
      if (this.sentUntilSamples === nextSlotStart) this.sendNext(this.lastTickIndex + 1, 0);
    }
  }

  /** Drops every queued packet (cancel); the next packet due goes out as silence. Returns how many were dropped. */
  flush(): number {
    return this.clearQueue();
  }

  get queuedMs(): number {
    return this.queuedSamplesTotal / SAMPLES_PER_MS;
  }

  get running(): boolean {
    return this.unsubscribe !== undefined;
  }

  /** Resolves once the queue is empty and the sender is back to silence (at once if it already is). */
  whenDrained(): Promise<void> {
    if (this.queueLength === 0 && !this.lastSentWasSpeech) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  get stats(): PacedOpusSenderStats {
    return { ...this.counters };
  }

  private get queueLength(): number {
    return this.queuedPackets.length - this.queueHead;
  }

  private readonly onTick = (tickIndex: number, _scheduledAtMs: number, lateByMs: number, skippedTicks: number): void => {
    this.lastTickIndex = tickIndex;
    if (this.originTickIndex === undefined) {
      this.originTickIndex = tickIndex;
      this.originSamples = this.sentUntilSamples;
    } else {
      this.counters.skippedTicks += skippedTicks;
    }
    const slotStart = this.originSamples + (tickIndex - this.originTickIndex) * 960;
    // Wall time that passed with nothing sent (skipped ticks) still advances the timeline.
    if (this.sentUntilSamples < slotStart) this.sentUntilSamples = slotStart;
    const slotEnd = slotStart + 960;
    while (this.sentUntilSamples < slotEnd) this.sendNext(tickIndex, lateByMs);
  };

  private sendNext(tickIndex: number, lateByMs: number): void {
    const silence = this.queueLength === 0;
    let payload: Buffer;
    let durationSamples: number;
    if (silence) {
      payload = OPUS_SILENCE_FRAME;
      durationSamples = 960;
    } else {
      payload = this.queuedPackets[this.queueHead]!;
      durationSamples = this.queuedSamples[this.queueHead]!;
      this.dequeue();
    }
    const marker = !silence && !this.lastSentWasSpeech; // talk-spurt start (RFC 3551 §4.1)
    const timestamp = (this.timestampBase + this.sentUntilSamples) >>> 0;
    const sequenceNumber = this.sequenceNumber;
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.sentUntilSamples += durationSamples;
    this.lastSentWasSpeech = !silence;

    const header = new RtpHeader({
      payloadType: this.options.payloadType,
      ssrc: this.options.ssrc,
      sequenceNumber,
      timestamp,
      marker,
    });
    this.options.send(new RtpPacket(header, payload));

    this.counters.packetsSent++;
    if (silence) this.counters.silencePackets++;
    if (lateByMs > LATE_THRESHOLD_MS) this.counters.latePackets++;
    this.options.onPacketSent?.({ silence, marker, lateByMs, sequenceNumber, timestamp, durationSamples, tickIndex });
    if (silence) this.resolveDrainWaiters();
  }

  private dequeue(): void {
    this.queuedSamplesTotal -= this.queuedSamples[this.queueHead]!;
    this.queueHead++;
    if (this.queueHead === this.queuedPackets.length) this.clearQueue();
    else if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queuedPackets.length) {
      this.queuedPackets = this.queuedPackets.slice(this.queueHead);
      this.queuedSamples = this.queuedSamples.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private clearQueue(): number {
    const dropped = this.queueLength;
    this.queuedPackets.length = 0;
    this.queuedSamples.length = 0;
    this.queueHead = 0;
    this.queuedSamplesTotal = 0;
    return dropped;
  }

  private resolveDrainWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
