import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OggOpusDemuxer } from '../../server/media/ogg-opus-demuxer.js';
import { OPUS_SILENCE_FRAME } from '../../server/media/opus-toc.js';
import { PacketClock, sharedPacketClock } from '../../server/media/packet-clock.js';
import { PacedOpusSender, type PacedOpusSenderOptions, type PacketSentInfo } from '../../server/media/rtp-sender.js';
import { encodeWithFfmpeg, makeFliteWav } from '../../scripts/make-test-ogg.js';

interface SentPacket {
  rtp: RtpPacket; // parsed back from the wire bytes
  info: PacketSentInfo;
  atMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const pendingTimers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
const isSilence = (packet: SentPacket): boolean => packet.rtp.payload.equals(OPUS_SILENCE_FRAME);

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // block the event loop on purpose
  }
}

/** A sender on its own clock that records every packet as the receiver would see it. */
function recordingSender(options: Partial<PacedOpusSenderOptions> = {}): { sender: PacedOpusSender; sent: SentPacket[] } {
  const sent: SentPacket[] = [];
  let wire: Buffer | undefined;
  const sender = new PacedOpusSender({
    payloadType: 111,
    ssrc: 0x1234abcd,
    clock: new PacketClock(),
    send: (rtp) => (wire = rtp.serialize()),
    onPacketSent: (info) => sent.push({ rtp: RtpPacket.deSerialize(wire!), info, atMs: performance.now() }),
    ...options,
  });
  return { sender, sent };
}

function expectContinuousSequence(sent: SentPacket[]): void {
  for (let i = 1; i < sent.length; i++) {
    expect(sent[i]!.rtp.header.sequenceNumber).toBe((sent[i - 1]!.rtp.header.sequenceNumber + 1) & 0xffff);
  }
}

/** Timestamps advance by the previous packet's duration plus the wall time of any skipped slots. */
function expectTimestampsFollowWallTime(sent: SentPacket[]): void {
  for (let i = 1; i < sent.length; i++) {
    const previous = sent[i - 1]!;
    const current = sent[i]!;
    const advance = (current.rtp.header.timestamp - previous.rtp.header.timestamp) >>> 0;
    const held = previous.info.durationSamples / 960 - 1; // ticks a 40/60 ms packet covers after its own
    const skippedSamples = (current.info.tickIndex - previous.info.tickIndex - 1 - held) * 960;
    expect(advance).toBe(previous.info.durationSamples + skippedSamples);
  }
}

let workDir: string;
let speechPackets: Buffer[]; // 20 ms packets
let packets60ms: Buffer[];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'rtp-sender-'));
  const wav = await makeFliteWav(join(workDir, 'speech.wav'), 'The quick brown fox jumps over the lazy dog, twice over.');
  const demux = (path: string): Buffer[] => {
    const demuxer = new OggOpusDemuxer();
    const packets = demuxer.push(readFileSync(path));
    demuxer.end();
    return packets;
  };
  const [speechPath, longPath] = await Promise.all([
    encodeWithFfmpeg(wav, join(workDir, 'speech.ogg'), ['-b:a', '32k', '-application', 'voip']),
    encodeWithFfmpeg(wav, join(workDir, 'speech-60ms.ogg'), ['-b:a', '64k', '-frame_duration', '60']),
  ]);
  speechPackets = demux(speechPath);
  packets60ms = demux(longPath);
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('PacedOpusSender', () => {
  it('sends one packet per 20 ms on a drift-free grid: silence, a marked talk-spurt, silence again', async () => {
    const { sender, sent } = recordingSender();
    sender.start();
    await sleep(200);
    const speech = speechPackets.slice(10, 40);
    const enqueuedAtMs = performance.now();
    for (const packet of speech) sender.enqueue(packet);
    // The talk-spurt's first packet went out at once; the rest wait for their ticks.
    expect(sender.queuedMs).toBe(580);
    await sender.whenDrained();
    const drainedAtMs = performance.now();
    await sleep(150);
    sender.stop();

    for (const { rtp } of sent) {
      expect(rtp.header.payloadType).toBe(111);
      expect(rtp.header.ssrc).toBe(0x1234abcd);
    }
    expectContinuousSequence(sent);
    expectTimestampsFollowWallTime(sent);
    const skipped = sender.stats.skippedTicks;
    const plusOneFrame = sent.slice(1).filter((packet, i) => ((packet.rtp.header.timestamp - sent[i]!.rtp.header.timestamp) >>> 0) === 960);
    expect(plusOneFrame.length).toBeGreaterThanOrEqual(sent.length - 1 - skipped);

    // The speech went out whole and in order, with silence around it.
    const speechSent = sent.filter((packet) => !isSilence(packet));
    expect(speechSent.map((packet) => packet.rtp.payload)).toEqual(speech);
    const firstSpeech = sent.indexOf(speechSent[0]!);
    const lastSpeech = sent.indexOf(speechSent.at(-1)!);
    expect(firstSpeech).toBeGreaterThanOrEqual(6);
    expect(sent.slice(0, firstSpeech).every(isSilence)).toBe(true);
    expect(sent.slice(lastSpeech + 1).length).toBeGreaterThanOrEqual(5);
    expect(sent.slice(lastSpeech + 1).every(isSilence)).toBe(true);
    expect(sent.filter((packet) => packet.rtp.header.marker)).toEqual([speechSent[0]]);

    // Drift-free: each packet left close to first + 20 ms · slots, measured here.
    // Anchor the grid on the earliest packet (relative to its slot); the rest must sit close to it.
    // (The spurt's first packet left early, on enqueue, into the next slot: checked below.)
    const onTicks = sent.filter((packet) => packet !== speechSent[0]);
    const offsets = onTicks.map((packet) => packet.atMs - (packet.info.tickIndex - sent[0]!.info.tickIndex) * 20);
    const lateness = offsets.map((offset) => offset - Math.min(...offsets));
    expect(median(lateness)).toBeLessThan(5);
    expect(lateness.filter((late) => late < 20).length / lateness.length).toBeGreaterThanOrEqual(0.9);
    expect(median(lateness.slice(-10)) - median(lateness.slice(0, 10))).toBeLessThan(4);
    expect(speechSent.at(-1)!.atMs - speechSent[0]!.atMs).toBeGreaterThan(28 * 20 - 3);
    expect(speechSent[0]!.atMs - enqueuedAtMs).toBeLessThan(2);
    // Its slot's tick sent nothing more: the next packet is a whole frame later on the grid.
    expect(speechSent[1]!.info.tickIndex).toBe(speechSent[0]!.info.tickIndex + 1);

    // whenDrained resolved with the first silence after the speech.
    expect(drainedAtMs).toBeGreaterThanOrEqual(sent[lastSpeech + 1]!.atMs);
    expect(drainedAtMs - sent[lastSpeech + 1]!.atMs).toBeLessThan(10);
    const stats = sender.stats;
    expect(stats.packetsSent).toBe(sent.length);
    expect(stats.silencePackets).toBe(sent.length - speech.length);
    expect(stats.latePackets).toBe(sent.filter((packet) => packet.info.lateByMs > 5).length);
  });

  it('wraps sequence numbers and timestamps, and marks the start of every talk-spurt', async () => {
    const { sender, sent } = recordingSender({ initialSequenceNumber: 65533, initialTimestamp: 0xffffffff - 3 * 960 });
    sender.start();
    for (const packet of speechPackets.slice(20, 26)) sender.enqueue(packet);
    await sender.whenDrained();
    await sleep(30);
    for (const packet of speechPackets.slice(30, 33)) sender.enqueue(packet);
    await sender.whenDrained();
    sender.stop();

    expect(sent.slice(0, 4).map((packet) => packet.rtp.header.sequenceNumber)).toEqual([65533, 65534, 65535, 0]);
    expectContinuousSequence(sent);
    expectTimestampsFollowWallTime(sent);
    expect(sent[0]!.rtp.header.timestamp).toBe(0xffffffff - 3 * 960);
    expect(sent.some((packet, i) => i > 0 && packet.rtp.header.timestamp < sent[i - 1]!.rtp.header.timestamp)).toBe(true);

    const markers = sent.filter((packet) => packet.rtp.header.marker);
    expect(markers.map((packet) => packet.rtp.payload)).toEqual([speechPackets[20], speechPackets[30]]);
    const secondSpurt = sent.indexOf(markers[1]!);
    expect(isSilence(sent[secondSpurt - 1]!)).toBe(true);
  });

  it('sends a 60 ms packet and holds the next two ticks, keeping timestamps and wall time aligned', async () => {
    const { sender, sent } = recordingSender();
    sender.start();
    await sleep(60);
    const long = packets60ms.slice(5, 13);
    for (const packet of long) sender.enqueue(packet);
    expect(sender.queuedMs).toBe(7 * 60); // the first went out at once
    await sender.whenDrained();
    sender.stop();

    expectContinuousSequence(sent);
    expectTimestampsFollowWallTime(sent);
    const speechSent = sent.filter((packet) => !isSilence(packet));
    expect(speechSent.map((packet) => packet.rtp.payload)).toEqual(long);
    for (let i = 1; i < speechSent.length; i++) {
      const previous = speechSent[i - 1]!;
      const current = speechSent[i]!;
      // Nothing at all goes out while a 60 ms packet plays: the next packet is the very next one sent.
      expect(sent.indexOf(current)).toBe(sent.indexOf(previous) + 1);
      expect(current.info.tickIndex - previous.info.tickIndex).toBeGreaterThanOrEqual(3);
      expect((current.rtp.header.timestamp - previous.rtp.header.timestamp) >>> 0).toBe(
        (current.info.tickIndex - previous.info.tickIndex) * 960,
      );
    }
    const gaps = speechSent.slice(1).map((packet, i) => packet.atMs - speechSent[i]!.atMs);
    expect(median(gaps)).toBeGreaterThan(57);
    expect(median(gaps)).toBeLessThan(63);
    // The silence after the last 60 ms packet starts where it ends.
    const after = sent[sent.indexOf(speechSent.at(-1)!) + 1]!;
    expect(isSilence(after)).toBe(true);
    expect(after.rtp.header.timestamp - speechSent.at(-1)!.rtp.header.timestamp).toBeGreaterThanOrEqual(2880);
  });

  it('flush() drops the queue and the next packet, within one 20 ms frame, is silence', async () => {
    const { sender, sent } = recordingSender();
    sender.start();
    for (const packet of speechPackets.slice(0, 100)) sender.enqueue(packet);
    const drained = sender.whenDrained();
    await sleep(300);
    const speechBefore = sent.filter((packet) => !isSilence(packet)).length;
    const flushedAtMs = performance.now();
    const dropped = sender.flush();
    expect(dropped).toBe(100 - speechBefore);
    expect(sender.queuedMs).toBe(0);
    await drained;
    const drainedAfterMs = performance.now() - flushedAtMs;
    await sleep(60);
    sender.stop();

    const afterFlush = sent.filter((packet) => packet.atMs >= flushedAtMs);
    expect(afterFlush.length).toBeGreaterThanOrEqual(2);
    expect(afterFlush.every(isSilence)).toBe(true);
    expect(afterFlush[0]!.atMs - flushedAtMs).toBeLessThan(21);
    expect(drainedAfterMs).toBeLessThan(22);
    expectContinuousSequence(sent);
    expectTimestampsFollowWallTime(sent);
  });

  it('does not burst after a blocked event loop: it resumes on the current slot with timestamps advanced', async () => {
    const { sender, sent } = recordingSender();
    sender.start();
    const speech = speechPackets.slice(0, 30);
    for (const packet of speech) sender.enqueue(packet);
    await sleep(150);
    const blockStartMs = performance.now();
    busyWait(100);
    const blockEndMs = performance.now();
    await sender.whenDrained();
    sender.stop();

    const before = sent.filter((packet) => packet.atMs <= blockStartMs).at(-1)!;
    const afterBlock = sent.filter((packet) => packet.atMs >= blockEndMs);
    const resumed = afterBlock[0]!;
    const skippedTicks = resumed.info.tickIndex - before.info.tickIndex - 1;
    expect(skippedTicks).toBeGreaterThanOrEqual(4);
    expect(sender.stats.skippedTicks).toBeGreaterThanOrEqual(skippedTicks);
    // A burst would send the ~5 missed packets back to back; here one slot gets one packet.
    expect(afterBlock.filter((packet) => packet.atMs - blockEndMs < 20).length).toBeLessThanOrEqual(2);
    for (let i = 1; i < afterBlock.length; i++) {
      expect(afterBlock[i]!.info.tickIndex).toBe(afterBlock[i - 1]!.info.tickIndex + 1);
      expect(afterBlock[i]!.info.lateByMs).toBeGreaterThan(-1.5);
    }
    expect((resumed.rtp.header.timestamp - before.rtp.header.timestamp) >>> 0).toBe((skippedTicks + 1) * 960);
    expect(resumed.rtp.header.marker).toBe(false); // same talk-spurt, just late
    expect(resumed.info.lateByMs).toBeGreaterThan(0);
    expect(sender.stats.latePackets).toBeGreaterThanOrEqual(1);
    // No speech was lost to the stall.
    expect(sent.filter((packet) => !isSilence(packet)).map((packet) => packet.rtp.payload)).toEqual(speech);
    expectContinuousSequence(sent);
    expectTimestampsFollowWallTime(sent);
  });

  it('releases the shared clock when stopped, resolving pending whenDrained()', async () => {
    const sender = new PacedOpusSender({ send: () => {}, payloadType: 111, ssrc: 1 });
    const subscribersBefore = sharedPacketClock.subscriberCount;
    sender.start();
    sender.start(); // idempotent
    expect(sharedPacketClock.subscriberCount).toBe(subscribersBefore + 1);
    expect(sharedPacketClock.running).toBe(true);
    for (const packet of speechPackets.slice(0, 50)) sender.enqueue(packet);
    const drained = sender.whenDrained();
    await sleep(60);
    expect(sender.stats.packetsSent).toBeGreaterThanOrEqual(2);
    sender.stop();
    await drained;
    expect(sender.queuedMs).toBe(0);
    expect(sharedPacketClock.subscriberCount).toBe(subscribersBefore);
    if (subscribersBefore === 0) expect(sharedPacketClock.running).toBe(false);
    const sentAtStop = sender.stats.packetsSent;
    await sleep(50);
    expect(sender.stats.packetsSent).toBe(sentAtStop);
  });

  it('runs 60 senders from one clock timer, all sending on the same ticks', async () => {
    const clock = new PacketClock();
    const ticksBySender: number[][] = [];
    const timersBefore = pendingTimers();
    const senders = Array.from({ length: 60 }, (_, index) => {
      ticksBySender[index] = [];
      const sender = new PacedOpusSender({
        send: () => {},
        payloadType: 111,
        ssrc: index + 1,
        clock,
        onPacketSent: (info) => ticksBySender[index]!.push(info.tickIndex),
      });
      sender.enqueue(speechPackets[index % speechPackets.length]!);
      sender.start();
      return sender;
    });
    expect(pendingTimers()).toBe(timersBefore + 1);
    expect(clock.subscriberCount).toBe(60);
    await sleep(200);
    for (const sender of senders) sender.stop();
    expect(clock.running).toBe(false);
    expect(ticksBySender[0]!.length).toBeGreaterThanOrEqual(7);
    for (const ticks of ticksBySender) expect(ticks).toEqual(ticksBySender[0]);
  });

  it('rejects a malformed packet at enqueue and reports queued time from the TOC', () => {
    const { sender } = recordingSender();
    expect(() => sender.enqueue(Buffer.alloc(0))).toThrow(/empty/);
    sender.enqueue(speechPackets[3]!);
    sender.enqueue(packets60ms[3]!);
    expect(sender.queuedMs).toBe(80);
    expect(sender.flush()).toBe(2);
    expect(sender.queuedMs).toBe(0);
  });
});
