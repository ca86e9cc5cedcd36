// Streaming Ogg-Opus demuxer (RFC 3533 pages, RFC 7845 Opus mapping) for TTS audio.
//
// Why not prism-media's OggDemuxer: its _readPage() returns false ("need more data") whenever a
// page's lacing table ends in 255, i.e. whenever a packet continues on the next page. The page is
// then never consumed: every later chunk is Buffer.concat-ed onto the remainder and the same page
// is re-parsed forever, so output stalls for good (checked: an ffmpeg file with -page_duration 5 s
// gives 0 packets). It also ignores the continued-packet flag, so even a resumed parse would
// split such packets in two, and it re-concatenates the remainder on every chunk (quadratic on
// small chunks). This parser is a byte-state machine instead: it keeps only the 27-byte header and
// the lacing table, hands out packets as zero-copy views of the chunk when a packet lies in one
// chunk, and concatenates only packets that straddle chunks or pages. No CRC check: TTS arrives
// over TCP/TLS or a pipe, which already guarantee integrity; framing errors are still caught by
// the capture pattern, version and packet-continuity checks.

const PAGE_HEADER_BYTES = 27;
const CAPTURE_PATTERN = 0x4f676753; // "OggS"
const FLAG_CONTINUED = 0x01;
const FLAG_BEGINNING_OF_STREAM = 0x02;
const FLAG_END_OF_STREAM = 0x04;
const OPUS_HEAD_MAGIC = Buffer.from('OpusHead');
const OPUS_TAGS_MAGIC = Buffer.from('OpusTags');

export interface OpusHead {
  channels: number;
  /** Samples at 48 kHz to drop from the start of decoded audio (encoder delay). */
  preSkip: number;
  /** Sample rate of the encoder's input, informational only (Opus always decodes at 48 kHz). */
  inputSampleRate: number;
}

type Phase = 'header' | 'lacing' | 'body';

function hasMagic(packet: Buffer, magic: Buffer): boolean {
  return packet.length >= magic.length && packet.compare(magic, 0, magic.length, 0, magic.length) === 0;
}

export class OggOpusDemuxer {
  private phase: Phase = 'header';
  private readonly pageHeader = Buffer.allocUnsafe(PAGE_HEADER_BYTES);
  private readonly lacingTable = Buffer.allocUnsafe(255);
  /** Bytes of the page header or lacing table collected so far. */
  private collected = 0;
  private pageNumber = 0;
  private segmentCount = 0;
  private nextSegment = 0;
  private pieceBytesLeft = 0;
  private pieceEndsPacket = false;
  private pageIsOpusStream = false;
  private pageEndsStream = false;
  /** The packet being assembled (views into chunks); open from its first piece until its end. */
  private readonly packetParts: Buffer[] = [];
  private packetBytes = 0;
  private packetOpen = false;
  /** The open packet began before we joined the stream: read it but throw it away. */
  private discardingPacket = false;
  private streamSerial: number | undefined;
  private streamEnded = false;
  private sawBeginningOfStream = false;
  private packetsInStream = 0;
  private opusHead: OpusHead | undefined;

  /** The OpusHead of the current stream, once seen. */
  get head(): OpusHead | undefined {
    return this.opusHead;
  }

  /**
   * Feeds the next chunk of the Ogg stream; returns the Opus audio packets completed by it, in
   * order. Returned packets may be views into `chunk`: don't reuse a chunk's memory afterwards.
   */
  push(chunk: Buffer | Uint8Array): Buffer[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const packets: Buffer[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      if (this.phase === 'header') offset = this.readPageHeader(bytes, offset);
      else if (this.phase === 'lacing') offset = this.readLacingTable(bytes, offset);
      else offset = this.readBody(bytes, offset, packets);
    }
    // Zero-length segments at the end of a page need no bytes, so finish them now.
    if (this.phase === 'body') this.readBody(bytes, offset, packets);
    return packets;
  }

  /** Declares the stream finished; throws if it stopped mid-page or mid-packet. */
  end(): void {
    if (this.phase !== 'header' || this.collected !== 0) {
      throw new Error(`Ogg stream ended in the middle of page ${this.pageNumber} (${this.phase})`);
    }
    if (this.packetOpen) throw new Error('Ogg stream ended in the middle of a packet continued across pages');
    if (!this.sawBeginningOfStream) throw new Error('Ogg stream ended before any page arrived');
    if (this.opusHead === undefined) throw new Error('Ogg stream held no Opus stream (no OpusHead packet)');
  }

  private readPageHeader(bytes: Buffer, offset: number): number {
    const take = Math.min(PAGE_HEADER_BYTES - this.collected, bytes.length - offset);
    bytes.copy(this.pageHeader, this.collected, offset, offset + take);
    this.collected += take;
    if (this.collected < PAGE_HEADER_BYTES) return offset + take;
    this.startPage();
    return offset + take;
  }

  private startPage(): void {
    const header = this.pageHeader;
    if (header.readUInt32BE(0) !== CAPTURE_PATTERN) {
      throw new Error(`Ogg page ${this.pageNumber}: capture pattern is not "OggS" (lost sync or not an Ogg stream)`);
    }
    if (header[4] !== 0) throw new Error(`Ogg page ${this.pageNumber}: unsupported stream structure version ${header[4]}`);
    const flags = header[5]!;
    const serial = header.readUInt32LE(14);
    const beginsStream = (flags & FLAG_BEGINNING_OF_STREAM) !== 0;

    if (beginsStream && (this.streamSerial === undefined || this.streamEnded)) {
      // First stream, or the next link of a chained file: its first packet must be OpusHead.
      this.sawBeginningOfStream = true;
      this.streamSerial = serial;
      this.streamEnded = false;
      this.packetsInStream = 0;
    } else if (this.streamSerial === undefined && !this.sawBeginningOfStream) {
      throw new Error(`Ogg page ${this.pageNumber}: stream does not start with a beginning-of-stream page`);
    }
    this.pageIsOpusStream = serial === this.streamSerial;
    this.pageEndsStream = (flags & FLAG_END_OF_STREAM) !== 0;

    if (this.pageIsOpusStream) {
      const continues = (flags & FLAG_CONTINUED) !== 0;
      if (!continues && this.packetOpen) {
        throw new Error(`Ogg page ${this.pageNumber}: previous page left a packet open but this page does not continue it`);
      }
      if (continues && !this.packetOpen) {
        this.packetOpen = true; // tail of a packet from before we joined: skip it
        this.discardingPacket = true;
      }
    }
    this.segmentCount = header[26]!;
    this.collected = 0;
    if (this.segmentCount === 0) this.beginBody();
    else this.phase = 'lacing';
  }

  private readLacingTable(bytes: Buffer, offset: number): number {
    const take = Math.min(this.segmentCount - this.collected, bytes.length - offset);
    bytes.copy(this.lacingTable, this.collected, offset, offset + take);
    this.collected += take;
    if (this.collected === this.segmentCount) this.beginBody();
    return offset + take;
  }

  private beginBody(): void {
    this.collected = 0;
    this.nextSegment = 0;
    this.pieceBytesLeft = 0;
    this.pieceEndsPacket = false;
    this.phase = 'body';
  }

  /** Reads page body bytes piece by piece; a piece is the part of one packet on this page. */
  private readBody(bytes: Buffer, offset: number, packets: Buffer[]): number {
    for (;;) {
      if (this.pieceBytesLeft > 0) {
        const take = Math.min(this.pieceBytesLeft, bytes.length - offset);
        if (take > 0 && this.pageIsOpusStream && !this.discardingPacket) {
          this.packetParts.push(bytes.subarray(offset, offset + take));
          this.packetBytes += take;
        }
        offset += take;
        this.pieceBytesLeft -= take;
        if (this.pieceBytesLeft > 0) return offset;
      }
      if (this.pieceEndsPacket && this.pageIsOpusStream) this.finishPacket(packets);
      if (this.nextSegment >= this.segmentCount) {
        this.finishPage();
        return offset;
      }
      this.planPiece();
    }
  }

  /** Sums lacing values up to the first one below 255 (packet end) or the end of the table. */
  private planPiece(): void {
    let pieceBytes = 0;
    let lacingValue = 255;
    while (lacingValue === 255 && this.nextSegment < this.segmentCount) {
      lacingValue = this.lacingTable[this.nextSegment++]!;
      pieceBytes += lacingValue;
    }
    this.pieceBytesLeft = pieceBytes;
    this.pieceEndsPacket = lacingValue < 255;
    if (this.pageIsOpusStream) this.packetOpen = true;
  }

  private finishPage(): void {
    if (this.pageIsOpusStream && this.pageEndsStream) {
      if (this.packetOpen) throw new Error(`Ogg page ${this.pageNumber}: stream ended with a packet left open`);
      this.streamEnded = true;
    }
    this.pageNumber++;
    this.phase = 'header';
  }

  private finishPacket(packets: Buffer[]): void {
    const parts = this.packetParts;
    const packet = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.packetBytes);
    parts.length = 0;
    this.packetBytes = 0;
    this.packetOpen = false;
    if (this.discardingPacket) {
      this.discardingPacket = false;
      return;
    }
    const index = this.packetsInStream++;
    if (index === 0) this.readOpusHead(packet);
    else if (index === 1) {
      if (!hasMagic(packet, OPUS_TAGS_MAGIC)) throw new Error('Ogg Opus: second packet is not OpusTags');
    } else if (packet.length > 0) packets.push(packet);
  }

  private readOpusHead(packet: Buffer): void {
    if (!hasMagic(packet, OPUS_HEAD_MAGIC)) {
      throw new Error('Ogg stream is not Opus: first packet is not OpusHead');
    }
    if (packet.length < 19) throw new Error(`Ogg Opus: OpusHead is ${packet.length} bytes, needs at least 19`);
    const version = packet[8]!;
    if (version >> 4 !== 0) throw new Error(`Ogg Opus: unsupported OpusHead version ${version}`);
    this.opusHead = {
      channels: packet[9]!,
      preSkip: packet.readUInt16LE(10),
      inputSampleRate: packet.readUInt32LE(12),
    };
  }
}

/** Yields Opus audio packets as each page arrives (never waits for the end of the stream). */
export async function* demuxOggOpus(chunks: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  const demuxer = new OggOpusDemuxer();
  for await (const chunk of chunks) {
    for (const packet of demuxer.push(chunk)) yield packet;
  }
  demuxer.end();
}
