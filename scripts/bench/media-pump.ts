/**
 * What the bench's client peers send, made once and shared: the spoken question as 20 ms Opus
 * packets and a 640x480 VP8 clip. One drift-free timer drives every client: real browsers' capture
 * clocks are independent, so the clients are spread over five phases 4 ms apart rather than all
 * sending in the same millisecond; each sends a mic packet every 20 ms and a video frame every
 * 40 ms (half of them on odd slots). Video packets leave through a pacer, as a browser's do
 * (2.5× the 1 Mbit/s media rate), so a keyframe is spread over ~130 ms rather than sent as one
 * burst. 80 clients cost one timer, not 160.
 */
import os from 'node:os';
import path from 'node:path';
import type { RtpPacket } from 'werift';
import type { ClientPeer } from '../lib/client-peer.js';
import { opusPacketsFromWav, vp8Frames } from '../lib/encoded-media.js';
import { makeSpeechWav } from '../make-test-media.js';

export interface BenchMedia {
  /** The question, padded with a little silence, as 20 ms Opus packets (48 kHz mono). */
  questionPackets: Buffer[];
  /** An Opus packet of silence (from the padding), sent between turns. */
  silencePacket: Buffer;
  /** VP8 frames at 25 fps; frame 0 is the only keyframe. */
  videoFrames: Buffer[];
}

export async function prepareMedia(question: string): Promise<BenchMedia> {
  const mediaDir = path.join(os.tmpdir(), 'webcam-assistant-bench');
  const wav = await makeSpeechWav(question, path.join(mediaDir, `question-${question.replace(/\W+/g, '-')}.wav`), { padSeconds: 0.25 });
  const [questionPackets, videoFrames] = await Promise.all([
    opusPacketsFromWav(wav),
    // 1 Mbit/s with the keyframe capped near 40 KB, as Chrome's encoder caps it (libvpx's
    // unlimited first keyframe would be 127 KB).
    vp8Frames({ colour: 'blue', width: 640, height: 480, fps: 25, seconds: 4, maxIntraRatePercent: 1500 }),
  ]);
  return { questionPackets, silencePacket: questionPackets[0]!, videoFrames };
}

/** A client's microphone: silence, or a list of packets played once (then `onEnd`), or a loop. */
export class MicFeed {
  private packets: readonly Buffer[] = [];
  private index = 0;
  private loop = false;
  private onEnd?: () => void;

  constructor(private readonly silence: Buffer) {}

  /** Plays `packets` once from the next tick; `onEnd` runs right after the last one is sent. */
  say(packets: readonly Buffer[], onEnd: () => void): void {
    this.packets = packets;
    this.index = 0;
    this.loop = false;
    this.onEnd = onEnd;
  }

  /** Plays `packets` over and over (background talk the server ignores between turns). */
  loopForever(packets: readonly Buffer[], startAt = 0): void {
    this.packets = packets;
    this.index = startAt % Math.max(1, packets.length);
    this.loop = true;
    this.onEnd = undefined;
  }

  /** The packet for this tick, and whether it was the last of a `say`. */
  next(): { packet: Buffer; ended: boolean } {
    if (this.index >= this.packets.length) {
      if (!this.loop || this.packets.length === 0) return { packet: this.silence, ended: false };
      this.index = 0;
    }
    const packet = this.packets[this.index++]!;
    const ended = !this.loop && this.index === this.packets.length;
    return { packet, ended };
  }

  takeOnEnd(): (() => void) | undefined {
    const onEnd = this.onEnd;
    this.onEnd = undefined;
    return onEnd;
  }
}

const SLOT_MS = 20;
const PHASES = 5;
const PHASE_MS = SLOT_MS / PHASES;
/** Bytes a client's pacer may send per step: 2.5 × 1 Mbit/s, WebRTC's usual pacing factor. */
const PACING_BYTES_PER_STEP = (2.5 * 1_000_000 * PHASE_MS) / 8 / 1000;

interface PumpEntry {
  peer: ClientPeer;
  mic: MicFeed;
  videoPhase: number;
  frameIndex: number;
  keyframeRequestsSeen: number;
  /** Video packets waiting for the pacer, and the byte budget it has left. */
  paced: RtpPacket[];
  pacingCredit: number;
}

export interface PumpStats {
  ticks: number;
  /** Ticks skipped because this (bench) process's event loop was blocked. */
  skippedTicks: number;
  /** How late each tick ran, ms (bench-side load indicator). */
  lateMs: number[];
}

export class MediaPump {
  /** Clients by the phase (0–4) of the 20 ms slot they send in. */
  private readonly phases = Array.from({ length: PHASES }, () => new Set<PumpEntry>());
  private readonly all = new Set<PumpEntry>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  /** Counts PHASE_MS steps: slot = floor(step / PHASES), phase = step % PHASES. */
  private nextStep = 0;
  private stats: PumpStats = { ticks: 0, skippedTicks: 0, lateMs: [] };
  private added = 0;

  constructor(private readonly frames: readonly Buffer[]) {}

  /** Starts sending this peer's mic and camera; returns the function that stops it. */
  add(peer: ClientPeer, mic: MicFeed): () => void {
    const index = this.added++;
    const entry: PumpEntry = {
      peer,
      mic,
      videoPhase: Math.floor(index / PHASES) % 2,
      frameIndex: 0,
      keyframeRequestsSeen: peer.keyframeRequests,
      paced: [],
      pacingCredit: 0,
    };
    this.all.add(entry);
    const phase = this.phases[index % PHASES]!;
    phase.add(entry);
    if (!this.timer) this.start();
    return () => {
      phase.delete(entry);
      this.all.delete(entry);
    };
  }

  /** Tick statistics since the last call (then reset). */
  takeStats(): PumpStats {
    const stats = this.stats;
    this.stats = { ticks: 0, skippedTicks: 0, lateMs: [] };
    return stats;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const phase of this.phases) phase.clear();
    this.all.clear();
  }

  private start(): void {
    this.startedAt = performance.now();
    this.nextStep = 0;
    this.schedule();
  }

  private schedule(): void {
    const dueAt = this.startedAt + this.nextStep * PHASE_MS;
    this.timer = setTimeout(this.onTimer, Math.max(0, dueAt - performance.now()));
  }

  private readonly onTimer = (): void => {
    const now = performance.now();
    // Like a browser's capture clock after a stall: skip to the current step, never burst.
    const currentStep = Math.floor((now - this.startedAt) / PHASE_MS);
    const step = Math.max(this.nextStep, currentStep);
    this.stats.skippedTicks += step - this.nextStep;
    this.stats.ticks++;
    this.stats.lateMs.push(now - (this.startedAt + step * PHASE_MS));
    this.nextStep = step + 1;
    const slot = Math.floor(step / PHASES);
    for (const entry of this.phases[step % PHASES]!) this.send(entry, slot);
    for (const entry of this.all) this.pace(entry);
    this.schedule();
  };

  private send(entry: PumpEntry, tick: number): void {
    const { packet, ended } = entry.mic.next();
    entry.peer.sendMic(packet);
    if (ended) entry.mic.takeOnEnd()?.();
    if (tick % 2 !== entry.videoPhase) return;
    if (entry.peer.keyframeRequests !== entry.keyframeRequestsSeen) {
      // Answer a PLI as a browser does: a keyframe next. Restarting the clip at its keyframe keeps
      // the stream decodable (every later frame refers back to it).
      entry.keyframeRequestsSeen = entry.peer.keyframeRequests;
      entry.frameIndex = 0;
    }
    entry.paced.push(...entry.peer.packetizeVideoFrame(this.frames[entry.frameIndex]!));
    entry.frameIndex = (entry.frameIndex + 1) % this.frames.length;
  }

  private pace(entry: PumpEntry): void {
    if (entry.paced.length === 0) {
      entry.pacingCredit = 0;
      return;
    }
    entry.pacingCredit += PACING_BYTES_PER_STEP;
    let sent = 0;
    while (sent < entry.paced.length && entry.pacingCredit > 0) {
      const packet = entry.paced[sent++]!;
      entry.pacingCredit -= packet.payload.length + 12;
      entry.peer.sendVideoPacket(packet);
    }
    entry.paced.splice(0, sent);
  }
}
