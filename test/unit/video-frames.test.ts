import { readIvfFrames } from '../../scripts/lib/vp8-packetizer.js';
import { execFileSync } from 'node:child_process';
import sharp from 'sharp';
import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { snapshotJpeg } from '../../server/media/frame-snapshot.js';
import { VideoFrameBuffer } from '../../server/media/video-frames.js';

const MAX_PAYLOAD = 1200;
const TICKS_PER_FRAME = 3600; // 25 fps on the 90 kHz clock

/** Encoded frames straight from ffmpeg: VP8 frames from IVF, or H.264 NAL units grouped per picture. */
function encode(codec: 'VP8' | 'VP9' | 'H264', lavfi: string, seconds: number, gop = 1000): Buffer[] {
  const codecArgs =
    codec === 'VP8'
      ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-g', String(gop), '-f', 'ivf']
      : codec === 'VP9'
      // Realtime, no alt-ref frames: one shown frame per IVF frame, as a browser's encoder sends.
      ? ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0',
         '-b:v', '1M', '-g', String(gop), '-f', 'ivf']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-bf', '0', '-g', String(gop),
         '-bsf:v', 'h264_mp4toannexb', '-f', 'h264'];
  const stream = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', lavfi, '-t', String(seconds), ...codecArgs, '-'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return codec === 'H264' ? h264AccessUnits(stream) : readIvfFrames(stream);
}

/** NAL units without start codes. */
function nalUnits(annexB: Buffer): Buffer[] {
  const starts: Array<{ at: number; codeLength: number }> = [];
  for (let i = 0; i + 2 < annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      starts.push({ at: i + 3, codeLength: i > 0 && annexB[i - 1] === 0 ? 4 : 3 });
      i += 2;
    }
  }
  return starts.map(({ at }, k) => annexB.subarray(at, k + 1 < starts.length ? starts[k + 1].at - starts[k + 1].codeLength : annexB.length));
}

/** One buffer per picture, each NAL unit keeping a 4-byte start code (x264: one slice per picture). */
function h264AccessUnits(annexB: Buffer): Buffer[] {
  const units: Buffer[] = [];
  let pending: Buffer[] = [];
  for (const nal of nalUnits(annexB)) {
    pending.push(Buffer.from([0, 0, 0, 1]), nal);
    const type = nal[0] & 0x1f;
    if (type === 1 || type === 5) {
      units.push(Buffer.concat(pending));
      pending = [];
    }
  }
  return units;
}

function rtpPacket(sequence: number, timestamp: number, marker: boolean, payload: Buffer): RtpPacket {
  return new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: sequence & 0xffff, timestamp, marker, ssrc: 42 }), payload);
}

/** RFC 7741 packetization as Chrome does it: X=1, I=1 with a 15-bit picture ID; S=1 on a frame's first packet. */
function packetizeVp8(frames: Buffer[], firstSequence = 1000): RtpPacket[] {
  const packets: RtpPacket[] = [];
  frames.forEach((frame, index) => {
    for (let offset = 0; offset < frame.length; offset += MAX_PAYLOAD) {
      const pictureId = index & 0x7fff;
      const descriptor = Buffer.from([0x80 | (offset === 0 ? 0x10 : 0), 0x80, 0x80 | (pictureId >> 8), pictureId & 0xff]);
      const last = offset + MAX_PAYLOAD >= frame.length;
      const payload = Buffer.concat([descriptor, frame.subarray(offset, offset + MAX_PAYLOAD)]);
      packets.push(rtpPacket(firstSequence + packets.length, index * TICKS_PER_FRAME, last, payload));
    }
  });
  return packets;
}

/**
 * RFC 9628 flexible mode as Chrome sends non-SVC VP9: I=1 with a 15-bit picture ID, F=1, P=1 with
 * one P_DIFF of 1 on inter frames, B on a picture's first packet, E and the RTP marker on its last.
 */
function packetizeVp9(frames: Buffer[], maxPayload = MAX_PAYLOAD, firstSequence = 3000): RtpPacket[] {
  const packets: RtpPacket[] = [];
  frames.forEach((frame, index) => {
    const interPicture = index > 0;
    for (let offset = 0; offset < frame.length; offset += maxPayload) {
      const pictureId = index & 0x7fff;
      const last = offset + maxPayload >= frame.length;
      const flags = 0x80 | (interPicture ? 0x40 : 0) | 0x10 | (offset === 0 ? 0x08 : 0) | (last ? 0x04 : 0);
      const descriptor = Buffer.from([flags, 0x80 | (pictureId >> 8), pictureId & 0xff, ...(interPicture ? [1 << 1] : [])]);
      const payload = Buffer.concat([descriptor, frame.subarray(offset, offset + maxPayload)]);
      packets.push(rtpPacket(firstSequence + packets.length, index * TICKS_PER_FRAME, last, payload));
    }
  });
  return packets;
}

/** RFC 6184 non-interleaved mode: SPS+PPS in a STAP-A (as Chrome sends them), single NAL units, FU-A for big ones. */
function packetizeH264(accessUnits: Buffer[], firstSequence = 2000): RtpPacket[] {
  const packets: RtpPacket[] = [];
  accessUnits.forEach((unit, index) => {
    const nals = nalUnits(unit);
    const payloads: Buffer[] = [];
    const parameterSets = nals.filter((nal) => [7, 8].includes(nal[0] & 0x1f));
    if (parameterSets.length > 0) {
      const stap: Buffer[] = [Buffer.from([(parameterSets[0][0] & 0x60) | 24])];
      for (const nal of parameterSets) stap.push(Buffer.from([nal.length >> 8, nal.length & 0xff]), nal);
      payloads.push(Buffer.concat(stap));
    }
    for (const nal of nals.filter((n) => !parameterSets.includes(n))) {
      if (nal.length <= MAX_PAYLOAD) {
        payloads.push(nal);
        continue;
      }
      const indicator = (nal[0] & 0xe0) | 28;
      for (let offset = 1; offset < nal.length; offset += MAX_PAYLOAD) {
        const start = offset === 1 ? 0x80 : 0;
        const end = offset + MAX_PAYLOAD >= nal.length ? 0x40 : 0;
        payloads.push(Buffer.concat([Buffer.from([indicator, start | end | (nal[0] & 0x1f)]), nal.subarray(offset, offset + MAX_PAYLOAD)]));
      }
    }
    payloads.forEach((payload, k) =>
      packets.push(rtpPacket(firstSequence + packets.length, index * TICKS_PER_FRAME, k === payloads.length - 1, payload)),
    );
  });
  return packets;
}

/** Swaps neighbours every few packets, as a network might. */
function reordered(packets: RtpPacket[]): RtpPacket[] {
  const out = packets.slice();
  for (let i = 2; i + 1 < out.length; i += 7) [out[i], out[i + 1]] = [out[i + 1], out[i]];
  return out;
}

async function meanColour(jpeg: Buffer): Promise<{ r: number; g: number; b: number }> {
  const { channels } = await sharp(jpeg).stats();
  return { r: channels[0].mean, g: channels[1].mean, b: channels[2].mean };
}

describe('VideoFrameBuffer (VP8)', () => {
  const frames = encode('VP8', 'testsrc2=s=640x480:r=25', 2);

  it('rebuilds every frame from reordered RTP, keyframe first, without emptying the caller\'s packets', () => {
    const buffer = new VideoFrameBuffer({ codec: 'VP8' });
    expect(buffer.hasKeyframe).toBe(false);
    expect(buffer.latestFrameAt).toBeUndefined();
    const packets = reordered(packetizeVp8(frames));
    expect(packets.length).toBeGreaterThan(frames.length); // keyframe spans several packets
    for (const packet of packets) buffer.pushRtp(packet);

    const kept = buffer.framesSinceKeyframe();
    expect(kept.length).toBe(frames.length);
    expect(kept.map((frame) => frame.isKeyframe)).toEqual(frames.map((_, i) => i === 0));
    kept.forEach((frame, i) => {
      expect(Buffer.compare(frame.data, frames[i])).toBe(0);
      expect(frame.rtpTimestamp).toBe(i * TICKS_PER_FRAME);
    });
    expect(buffer.hasKeyframe).toBe(true);
    expect(buffer.latestFrameAt).toBeGreaterThan(Date.now() - 5000);
    expect(packets.every((packet) => packet.payload?.length > 0)).toBe(true);
  });

  it('keeps only the frames since the newest keyframe', () => {
    const gopFrames = encode('VP8', 'testsrc2=s=320x240:r=25', 1, 10); // keyframes at 0, 10, 20
    const buffer = new VideoFrameBuffer({ codec: 'VP8' });
    for (const packet of packetizeVp8(gopFrames)) buffer.pushRtp(packet);
    const kept = buffer.framesSinceKeyframe();
    expect(kept.length).toBe(gopFrames.length - 20);
    expect(kept[0].isKeyframe).toBe(true);
    expect(Buffer.compare(kept.at(-1)!.data, gopFrames.at(-1)!)).toBe(0);
  });

  it('asks for a keyframe when the chain grows too long, and stays bounded if none comes', () => {
    let requests = 0;
    const buffer = new VideoFrameBuffer({ codec: 'VP8', maxFramesSinceKeyframe: 10, onNeedKeyframe: () => requests++ });
    let longest = 0;
    for (const packet of packetizeVp8(frames)) {
      buffer.pushRtp(packet);
      longest = Math.max(longest, buffer.framesSinceKeyframe().length);
      if (buffer.framesSinceKeyframe().length === 11) expect(requests).toBe(1);
    }
    expect(longest).toBeLessThanOrEqual(20);
    expect(buffer.hasKeyframe).toBe(false); // dropped the chain; delta frames alone are useless
  });

  it('while length requests are paused (Space held) a long chain asks nothing and stops growing; resuming asks; each keyframe is reported', () => {
    let requests = 0;
    const keyframes: number[] = [];
    const buffer = new VideoFrameBuffer({
      codec: 'VP8', maxFramesSinceKeyframe: 10, onNeedKeyframe: () => requests++, onKeyframe: (frame) => keyframes.push(frame.rtpTimestamp),
    });
    buffer.lengthRequestsPaused = true;
    const packets = packetizeVp8(frames);
    for (const packet of packets) buffer.pushRtp(packet);
    expect(frames.length).toBeGreaterThan(25);
    expect(requests).toBe(0);
    expect(keyframes).toEqual([0]);
    const kept = buffer.framesSinceKeyframe();
    expect(kept).toHaveLength(20); // stopped at twice the limit, chain kept whole
    expect(Buffer.compare(kept.at(-1)!.data, frames[19])).toBe(0);

    buffer.lengthRequestsPaused = false;
    const more = packetizeVp8(frames.slice(1, 3), 1000 + packets.length);
    for (const packet of more) buffer.pushRtp(packet);
    expect(requests).toBe(1);
  });

  it('drops delta frames that arrive before any keyframe and asks for one', () => {
    let requests = 0;
    const buffer = new VideoFrameBuffer({ codec: 'VP8', onNeedKeyframe: () => requests++ });
    const packets = packetizeVp8(frames);
    const firstDelta = packets.findIndex((packet, i) => i > 0 && packet.payload[0] & 0x10);
    for (const packet of packets.slice(firstDelta)) buffer.pushRtp(packet);
    expect(buffer.hasKeyframe).toBe(false);
    expect(requests).toBeGreaterThanOrEqual(1);
  });

  it('after a lost packet keeps the chain up to the last whole frame, asks for a keyframe, and reset() forgets everything', () => {
    let requests = 0;
    const buffer = new VideoFrameBuffer({ codec: 'VP8', onNeedKeyframe: () => requests++ });
    const packets = packetizeVp8(frames);
    const lost = packets.findIndex((packet) => packet.header.timestamp === 25 * TICKS_PER_FRAME);
    for (const [i, packet] of packets.entries()) if (i !== lost) buffer.pushRtp(packet);
    expect(requests).toBe(1);
    // Frames after the hole refer to the lost one and would decode to garbage: the chain stops
    // at frame 24 (still decodable) until the next keyframe.
    const kept = buffer.framesSinceKeyframe();
    expect(kept.map((frame) => frame.rtpTimestamp)).toEqual(frames.slice(0, 25).map((_, i) => i * TICKS_PER_FRAME));

    buffer.reset();
    expect(buffer.hasKeyframe).toBe(false);
    expect(buffer.framesSinceKeyframe()).toEqual([]);
    expect(buffer.latestFrameAt).toBeUndefined();
    // After a reset the sequence numbers carry on (same sender, new source).
    for (const packet of packetizeVp8(frames.slice(0, 5), packets.length + 1000)) buffer.pushRtp(packet);
    expect(buffer.framesSinceKeyframe().length).toBe(5);
  });

  it("passes over Chrome's padding-only packets (bandwidth probes) without losing the frame after them", async () => {
    const buffer = new VideoFrameBuffer({ codec: 'VP8' });
    const padded: RtpPacket[] = [];
    let sequence = 5000;
    for (const packet of packetizeVp8(frames)) {
      padded.push(rtpPacket(sequence++, packet.header.timestamp, packet.header.marker, packet.payload));
      // After every third frame: padding with the frame's timestamp; werift hands them over with empty payloads.
      if (packet.header.marker && (packet.header.timestamp / TICKS_PER_FRAME) % 3 === 0) {
        for (let k = 0; k < 4; k++) padded.push(rtpPacket(sequence++, packet.header.timestamp, false, Buffer.alloc(0)));
      }
    }
    for (const packet of padded) buffer.pushRtp(packet);
    expect(buffer.framesSinceKeyframe().map((frame) => frame.data.length)).toEqual(frames.map((frame) => frame.length));
    const still = await snapshotJpeg(buffer.framesSinceKeyframe(), 'VP8', { maxSide: 1024, quality: 80 });
    expect(still.width).toBeGreaterThan(0);
  });

  it('a lost packet mid-chain still snapshots the last clean picture, not a smeared one', async () => {
    // Red for 1 s, then blue, with one keyframe at the start: the blue frames are deltas.
    const redThenBlue = encode('VP8', 'color=c=red:s=320x240:r=25:d=1[a];color=c=blue:s=320x240:r=25:d=1[b];[a][b]concat=n=2:v=1', 2);
    const buffer = new VideoFrameBuffer({ codec: 'VP8' });
    const packets = packetizeVp8(redThenBlue);
    const lost = packets.findIndex((packet) => packet.header.timestamp === 20 * TICKS_PER_FRAME); // a red frame
    for (const [i, packet] of packets.entries()) if (i !== lost) buffer.pushRtp(packet);
    const still = await snapshotJpeg(buffer.framesSinceKeyframe(), 'VP8', { maxSide: 1024, quality: 80 });
    const { r, g, b } = await meanColour(still.jpeg);
    // The chain stops at red frame 19; decoding the blue frames against the hole is what it avoids.
    expect(r).toBeGreaterThan(200);
    expect(Math.max(g, b)).toBeLessThan(60);
  });

  it('feeds snapshotJpeg: a red camera gives a red JPEG of the camera size', async () => {
    const buffer = new VideoFrameBuffer({ codec: 'VP8' });
    for (const packet of reordered(packetizeVp8(encode('VP8', 'color=c=red:s=640x480:r=25', 1)))) buffer.pushRtp(packet);
    const still = await snapshotJpeg(buffer.framesSinceKeyframe(), 'VP8', { maxSide: 1024, quality: 80 });
    expect([still.width, still.height]).toEqual([640, 480]);
    const { r, g, b } = await meanColour(still.jpeg);
    expect(r).toBeGreaterThan(200);
    expect(Math.max(g, b)).toBeLessThan(60);
  });
});

describe('VideoFrameBuffer (VP9)', () => {
  it('rebuilds flexible-mode VP9 pictures from reordered RTP and snapshotJpeg decodes the newest one', async () => {
    const frames = encode('VP9', 'color=c=red:s=640x480:r=25:d=1[a];color=c=blue:s=640x480:r=25:d=1[b];[a][b]concat=n=2[out0]', 2);
    expect(frames).toHaveLength(50);
    // Small packets, so the (flat-colour, so small) keyframes span several.
    const packets = packetizeVp9(frames, 40);
    expect(packets.length).toBeGreaterThan(frames.length);
    const buffer = new VideoFrameBuffer({ codec: 'VP9' });
    for (const packet of reordered(packets)) buffer.pushRtp(packet);
    const rebuilt = buffer.framesSinceKeyframe();
    expect(rebuilt.map((frame) => frame.isKeyframe)).toEqual(frames.map((_, index) => index === 0));
    expect(rebuilt.map((frame) => frame.data)).toEqual(frames);

    const blue = await snapshotJpeg(rebuilt, 'VP9', { maxSide: 1024, quality: 80 });
    expect([blue.width, blue.height]).toEqual([640, 480]);
    const newest = await meanColour(blue.jpeg);
    expect(newest.b).toBeGreaterThan(200);
    expect(Math.max(newest.r, newest.g)).toBeLessThan(60);
    const red = await meanColour((await snapshotJpeg(rebuilt.slice(0, 20), 'VP9', { maxSide: 1024, quality: 80 })).jpeg);
    expect(red.r).toBeGreaterThan(200);
    expect(Math.max(red.g, red.b)).toBeLessThan(60);
  });
});

describe('VideoFrameBuffer (H264)', () => {
  it('rebuilds access units from STAP-A, single-NAL and FU-A packets and feeds snapshotJpeg', async () => {
    const units = encode('H264', 'color=c=blue:s=1280x720:r=25', 1);
    const buffer = new VideoFrameBuffer({ codec: 'H264' });
    const packets = reordered(packetizeH264(units));
    expect(packets.some((packet) => (packet.payload[0] & 0x1f) === 28)).toBe(true); // FU-A used
    for (const packet of packets) buffer.pushRtp(packet);

    const kept = buffer.framesSinceKeyframe();
    expect(kept.length).toBe(units.length);
    expect(kept.map((frame) => frame.isKeyframe)).toEqual(units.map((_, i) => i === 0));
    expect(Buffer.compare(kept.at(-1)!.data, units.at(-1)!)).toBe(0);

    const still = await snapshotJpeg(kept, 'H264', { maxSide: 1024, quality: 80 });
    expect([still.width, still.height]).toEqual([1024, 576]);
    const { r, g, b } = await meanColour(still.jpeg);
    expect(b).toBeGreaterThan(200);
    expect(Math.max(r, g)).toBeLessThan(60);
  });
});
