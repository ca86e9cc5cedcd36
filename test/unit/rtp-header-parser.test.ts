import { describe, expect, it } from 'vitest';
import { RtpHeader, RtpPacket } from 'werift';
import { installFastRtpHeaderParser, parseRtpHeader } from '../../server/media/rtp-header-parser.js';

const weriftParse = RtpHeader.deSerialize.bind(RtpHeader);

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function* numbers(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    yield state;
  }
}

function fields(header: RtpHeader) {
  const { version, padding, paddingSize, extension, marker, payloadOffset, payloadType, sequenceNumber, timestamp, ssrc, csrcLength, csrc, extensionProfile, extensionLength } = header;
  return {
    version, padding, paddingSize, extension, marker, payloadOffset, payloadType, sequenceNumber, timestamp, ssrc, csrcLength, csrc,
    extensionProfile: extension ? extensionProfile : undefined,
    extensionLength: extension ? extensionLength : undefined,
    extensions: header.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload).toString('hex') })),
  };
}

describe('parseRtpHeader', () => {
  it("reads every field exactly as werift's parser does, over 2000 varied packets", () => {
    const random = numbers(7);
    const next = (n: number) => random.next().value % n;
    for (let i = 0; i < 2000; i++) {
      const profile = [0xbede, 0x1000][next(2)]!;
      const extensionCount = next(4);
      const extensions = Array.from({ length: extensionCount }, (_, k) => ({
        id: profile === 0xbede ? 1 + k * 3 : 1 + next(200),
        payload: Buffer.from(Array.from({ length: 1 + next(profile === 0xbede ? 16 : 40) }, () => next(256))),
      }));
      const header = new RtpHeader({
        marker: next(2) === 1,
        payloadType: next(128),
        sequenceNumber: next(65536),
        timestamp: random.next().value >>> 0,
        ssrc: random.next().value >>> 0,
        csrc: Array.from({ length: next(3) }, () => random.next().value >>> 0),
        extension: extensionCount > 0,
        extensionProfile: profile as RtpHeader['extensionProfile'],
        extensions,
      });
      header.csrcLength = header.csrc.length;
      const payload = Buffer.from(Array.from({ length: next(300) }, () => next(256)));
      let packet = new RtpPacket(header, payload).serialize();
      if (next(4) === 0) {
        // RTP padding (the P bit and a count in the last byte), as Chrome's probes carry.
        const padLength = 1 + next(20);
        const padding = Buffer.alloc(padLength);
        padding[padLength - 1] = padLength;
        packet = Buffer.concat([packet, padding]);
        packet[0] = packet[0]! | 0x20;
      }
      expect(fields(parseRtpHeader(packet)), `packet ${i}`).toEqual(fields(weriftParse(packet)));
    }
  });

  it('reads a Chrome-style audio packet (mid, abs-send-time, transport-cc one-byte extensions)', () => {
    const packet = Buffer.from(
      '90ef1a2b0001e24012345678bede0003' + '1030' + '22123456' + '310102' + '000000' + 'f8fffe',
      'hex',
    );
    const header = parseRtpHeader(packet);
    expect(header).toMatchObject({ marker: true, payloadType: 111, sequenceNumber: 0x1a2b, timestamp: 0x1e240, ssrc: 0x12345678 });
    expect(header.extensions.map((e) => [e.id, Buffer.from(e.payload).toString('hex')])).toEqual([
      [1, '30'],
      [2, '123456'],
      [3, '0102'],
    ]);
    expect(packet.subarray(header.payloadOffset).toString('hex')).toBe('f8fffe');
    expect(fields(header)).toEqual(fields(weriftParse(packet)));
  });

  it('once installed, werift parses RTP with it (RtpPacket.deSerialize included)', () => {
    installFastRtpHeaderParser();
    const packet = new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 9, timestamp: 90, ssrc: 5 }), Buffer.from([1, 2, 3])).serialize();
    expect(RtpHeader.deSerialize).toBe(parseRtpHeader);
    expect(RtpPacket.deSerialize(packet).payload).toEqual(Buffer.from([1, 2, 3]));
  });

  it('is several times faster than the parser it replaces', () => {
    const packet = Buffer.from('90ef1a2b0001e24012345678bede0003103022123456310102000000f8fffe', 'hex');
    const time = (parse: (p: Buffer) => RtpHeader) => {
      const started = performance.now();
      for (let i = 0; i < 20_000; i++) parse(packet);
      return performance.now() - started;
    };
    time(weriftParse);
    time(parseRtpHeader); // warm both up
    const ratios = [0, 1, 2].map(() => time(weriftParse) / time(parseRtpHeader));
    expect(ratios.sort((a, b) => a - b)[1]).toBeGreaterThan(2);
  });
});
