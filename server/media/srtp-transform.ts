import { createCipheriv, hash, type Cipher } from 'node:crypto';
import {
  ProtectionProfileAes128CmHmacSha1_80 as AES_CM_128_HMAC_SHA1_80,
  RTCDtlsTransport,
  RtcpHeader,
  RtpHeader,
  SrtpAuthenticationError,
  SrtpSession,
} from 'werift';
import { ReplayWindows } from './srtp-replay-window.js';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * SRTP without a crypto object per packet.
 *
 * werift 0.24 builds a new OpenSSL cipher (createCipheriv / createDecipheriv) and, for
 * AES_CM_128_HMAC_SHA1_80, a new Hmac for every RTP packet. Each is a native object that V8 must
 * track and free in the young-generation GC: with 20 sessions (~4000 packets/s) scavenges took
 * 3–25 ms every ~200 ms, and every one of them made the 20 ms reply-audio clock late. A loop
 * making 300 000 GCM deciphers shows the same (median scavenge 24 ms; plain buffers 1.6 ms).
 *
 * The transform itself is RFC 3711's and is not new: AES-128 in counter mode is AES-128-ECB of
 * the counter blocks (§4.1.1), which one long-lived ECB cipher computes for every packet; the
 * authentication tag is HMAC-SHA1 (§4.2.1) computed as SHA1(K⊕opad ‖ SHA1(K⊕ipad ‖ m)) with
 * Node's one-shot crypto.hash, which makes no object. No library exposes SRTP this way in
 * Node, so these ~100 lines are ours; test/unit/srtp-transform.test.ts checks every output byte
 * against werift's own implementation and that a tampered packet is refused.
 *
 * AEAD_AES_128_GCM cannot be done without a per-packet cipher in Node, so the DTLS handshake
 * is limited to AES_CM_128_HMAC_SHA1_80, which every WebRTC endpoint must support
 * (RFC 8827 §6.5). SRTCP (§3.4) uses the same two primitives with its own keys.
 */

/** The fields and methods of werift's (unexported) CipherAesCtr that this module uses. */
interface CtrCipher {
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag: Buffer;
  srtcpSessionKey: Buffer;
  srtcpSessionSalt: Buffer;
  srtcpSessionAuthTag: Buffer;
  authTagLength: number;
  encryptRtp(header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer;
  decryptRtp(cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader];
  encryptRTCP(rtcp: Buffer, srtcpIndex: number): Buffer;
  decryptRTCP(encrypted: Buffer): [Buffer, RtcpHeader];
}

interface SessionKeys {
  keystream: Cipher;
  innerPad: Buffer;
  outerPad: Buffer;
}

const AUTH_TAG_LENGTH = 10;
const SHA1_BLOCK = 64;
const SHA1_LENGTH = 20;
/** Larger than any UDP packet on an Ethernet path; anything bigger goes to werift's code. */
const MAX_PACKET = 8192;
const AUTH_MESSAGE = 'Failed to authenticate SRTP packet';

// Scratch space shared by every packet: the event loop runs one packet at a time.
const counterBlocks = Buffer.alloc(MAX_PACKET);
const counterView = new DataView(counterBlocks.buffer, counterBlocks.byteOffset, counterBlocks.byteLength);
const innerInput = Buffer.alloc(SHA1_BLOCK + MAX_PACKET + 4);
const outerInput = Buffer.alloc(SHA1_BLOCK + SHA1_LENGTH);

const rtpKeysByCipher = new WeakMap<CtrCipher, SessionKeys>();
const rtcpKeysByCipher = new WeakMap<CtrCipher, SessionKeys>();

function makeKeys(encryptionKey: Buffer, authKey: Buffer): SessionKeys {
  const keystream = createCipheriv('aes-128-ecb', encryptionKey, null);
  keystream.setAutoPadding(false);
  const innerPad = Buffer.alloc(SHA1_BLOCK, 0x36);
  const outerPad = Buffer.alloc(SHA1_BLOCK, 0x5c);
  // An HMAC key longer than the block would be hashed first; SRTP's is 20 bytes.
  authKey.forEach((byte, i) => {
    innerPad[i]! ^= byte;
    outerPad[i]! ^= byte;
  });
  return { keystream, innerPad, outerPad };
}

function sessionKeys(cipher: CtrCipher): SessionKeys {
  let keys = rtpKeysByCipher.get(cipher);
  if (!keys) rtpKeysByCipher.set(cipher, (keys = makeKeys(cipher.srtpSessionKey, cipher.srtpSessionAuthTag)));
  return keys;
}

function controlKeys(cipher: CtrCipher): SessionKeys {
  let keys = rtcpKeysByCipher.get(cipher);
  if (!keys) rtcpKeysByCipher.set(cipher, (keys = makeKeys(cipher.srtcpSessionKey, cipher.srtcpSessionAuthTag)));
  return keys;
}

/** AES-CM keystream for one packet (RFC 3711 §4.1.1): E(k, IV + j) for blocks j = 0, 1, … */
function keystreamFor(keys: SessionKeys, salt: Buffer, ssrc: number, rolloverCounter: number, sequenceNumber: number, length: number): Buffer {
  const blocks = Math.ceil(length / 16);
  // IV = salt·2^16 ⊕ SSRC·2^64 ⊕ index·2^16, index = ROC·2^16 + SEQ; the low 16 bits count blocks.
  const iv0 = (salt[0]! << 24) | (salt[1]! << 16) | (salt[2]! << 8) | salt[3]!;
  const iv1 = (((salt[4]! << 24) | (salt[5]! << 16) | (salt[6]! << 8) | salt[7]!) ^ ssrc) >>> 0;
  const iv2 = (((salt[8]! << 24) | (salt[9]! << 16) | (salt[10]! << 8) | salt[11]!) ^ rolloverCounter) >>> 0;
  const iv3hi = ((salt[12]! << 8) | salt[13]!) ^ sequenceNumber;
  const low = iv3hi << 16;
  for (let j = 0, at = 0; j < blocks; j++, at += 16) {
    counterView.setInt32(at, iv0);
    counterView.setUint32(at + 4, iv1);
    counterView.setUint32(at + 8, iv2);
    counterView.setUint32(at + 12, (low | j) >>> 0);
  }
  return keys.keystream.update(counterBlocks.subarray(0, blocks * 16));
}

/** target[targetAt…] = source[sourceAt…] ⊕ keystream, 32 bits at a time when aligned (4× faster than bytes). */
function xorInto(target: Buffer, targetAt: number, source: Buffer, sourceAt: number, keystream: Buffer, length: number): void {
  source.copy(target, targetAt, sourceAt, sourceAt + length);
  const at = target.byteOffset + targetAt;
  let done = 0;
  if ((at & 3) === 0 && (keystream.byteOffset & 3) === 0) {
    const words = length >>> 2;
    const target32 = new Int32Array(target.buffer, at, words);
    const keystream32 = new Int32Array(keystream.buffer, keystream.byteOffset, words);
    for (let i = 0; i < words; i++) target32[i]! ^= keystream32[i]!;
    done = words * 4;
  }
  for (let i = done; i < length; i++) target[targetAt + i]! ^= keystream[i]!;
}

/** HMAC-SHA1(m ‖ ROC) (RFC 3711 §4.2; SRTCP has no ROC), as a 20-character binary string. */
function authTag(keys: SessionKeys, authenticated: Buffer, rolloverCounter?: number): string {
  keys.innerPad.copy(innerInput, 0);
  authenticated.copy(innerInput, SHA1_BLOCK);
  let end = SHA1_BLOCK + authenticated.length;
  if (rolloverCounter !== undefined) {
    innerInput.writeUInt32BE(rolloverCounter >>> 0, end);
    end += 4;
  }
  const inner = hash('sha1', innerInput.subarray(0, end), 'binary');
  keys.outerPad.copy(outerInput, 0);
  outerInput.write(inner, SHA1_BLOCK, SHA1_LENGTH, 'binary');
  return hash('sha1', outerInput, 'binary');
}

function fitsScratch(headerLength: number, payloadLength: number): boolean {
  return headerLength + payloadLength <= MAX_PACKET;
}

function encryptRtp(cipher: CtrCipher, header: RtpHeader, payload: Buffer, rolloverCounter: number, fallback: CtrCipher['encryptRtp']): Buffer {
  const headerBuffer = header.serialize(header.serializeSize);
  if (!fitsScratch(headerBuffer.length, payload.length)) return fallback.call(cipher, header, payload, rolloverCounter);
  const keys = sessionKeys(cipher);
  const keystream = keystreamFor(keys, cipher.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber, payload.length);
  const packet = Buffer.allocUnsafe(headerBuffer.length + payload.length + AUTH_TAG_LENGTH);
  headerBuffer.copy(packet, 0);
  const payloadAt = headerBuffer.length;
  xorInto(packet, payloadAt, payload, 0, keystream, payload.length);
  const authenticatedEnd = payloadAt + payload.length;
  const tag = authTag(keys, packet.subarray(0, authenticatedEnd), rolloverCounter);
  packet.write(tag, authenticatedEnd, AUTH_TAG_LENGTH, 'binary');
  return packet;
}

function decryptRtp(
  cipher: CtrCipher,
  cipherText: Buffer,
  rolloverCounter: number,
  header: RtpHeader | undefined,
  fallback: CtrCipher['decryptRtp'],
): [Buffer, RtpHeader] {
  const authTagOffset = cipherText.length - AUTH_TAG_LENGTH;
  if (header === undefined || authTagOffset < header.payloadOffset || !fitsScratch(header.payloadOffset, authTagOffset - header.payloadOffset)) {
    return fallback.call(cipher, cipherText, rolloverCounter, header);
  }
  const keys = sessionKeys(cipher);
  const expected = authTag(keys, cipherText.subarray(0, authTagOffset), rolloverCounter);
  if (!tagMatches(expected, cipherText, authTagOffset)) throw new SrtpAuthenticationError(AUTH_MESSAGE);

  const payloadAt = header.payloadOffset;
  const payloadLength = authTagOffset - payloadAt;
  const keystream = keystreamFor(keys, cipher.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber, payloadLength);
  const packet = Buffer.allocUnsafe(authTagOffset);
  cipherText.copy(packet, 0, 0, payloadAt);
  xorInto(packet, payloadAt, cipherText, payloadAt, keystream, payloadLength);
  return [packet, withPadding(header, packet)];
}

/** Constant time over the tag, like timingSafeEqual. */
function tagMatches(expected: string, packet: Buffer, tagAt: number): boolean {
  let difference = 0;
  for (let i = 0; i < AUTH_TAG_LENGTH; i++) difference |= expected.charCodeAt(i) ^ packet[tagAt + i]!;
  return difference === 0;
}

const RTCP_CLEAR_BYTES = 8; // the header and sender SSRC stay in the clear
const SRTCP_INDEX_BYTES = 4;

/** RFC 3711 §3.4: encrypt after the first 8 bytes, append E-flag ‖ index, then the tag. */
function encryptRtcp(cipher: CtrCipher, rtcp: Buffer, srtcpIndex: number, fallback: CtrCipher['encryptRTCP']): Buffer {
  if (rtcp.length < RTCP_CLEAR_BYTES || rtcp.length > MAX_PACKET) return fallback.call(cipher, rtcp, srtcpIndex);
  const keys = controlKeys(cipher);
  const bodyLength = rtcp.length - RTCP_CLEAR_BYTES;
  const keystream = keystreamFor(keys, cipher.srtcpSessionSalt, rtcp.readUInt32BE(4), srtcpIndex >>> 16, srtcpIndex & 0xffff, bodyLength);
  const packet = Buffer.allocUnsafe(rtcp.length + SRTCP_INDEX_BYTES + AUTH_TAG_LENGTH);
  rtcp.copy(packet, 0, 0, RTCP_CLEAR_BYTES);
  xorInto(packet, RTCP_CLEAR_BYTES, rtcp, RTCP_CLEAR_BYTES, keystream, bodyLength);
  packet.writeUInt32BE((srtcpIndex | 0x8000_0000) >>> 0, rtcp.length);
  const authenticatedEnd = rtcp.length + SRTCP_INDEX_BYTES;
  packet.write(authTag(keys, packet.subarray(0, authenticatedEnd)), authenticatedEnd, AUTH_TAG_LENGTH, 'binary');
  return packet;
}

function decryptRtcp(cipher: CtrCipher, encrypted: Buffer, fallback: CtrCipher['decryptRTCP']): [Buffer, RtcpHeader] {
  const tailAt = encrypted.length - AUTH_TAG_LENGTH - SRTCP_INDEX_BYTES;
  if (tailAt < RTCP_CLEAR_BYTES || encrypted.length > MAX_PACKET) return fallback.call(cipher, encrypted);
  const keys = controlKeys(cipher);
  const tagAt = encrypted.length - AUTH_TAG_LENGTH;
  if (!tagMatches(authTag(keys, encrypted.subarray(0, tagAt)), encrypted, tagAt)) {
    throw new SrtpAuthenticationError('Failed to authenticate SRTCP packet');
  }
  const header = RtcpHeader.deSerialize(encrypted.subarray(0, 4));
  const packet = Buffer.allocUnsafe(tailAt);
  const indexWord = encrypted.readUInt32BE(tailAt);
  if ((indexWord & 0x8000_0000) === 0) {
    encrypted.copy(packet, 0, 0, tailAt); // sent unencrypted (E flag clear)
    return [packet, header];
  }
  const srtcpIndex = indexWord & 0x7fff_ffff;
  const bodyLength = tailAt - RTCP_CLEAR_BYTES;
  const keystream = keystreamFor(keys, cipher.srtcpSessionSalt, encrypted.readUInt32BE(4), srtcpIndex >>> 16, srtcpIndex & 0xffff, bodyLength);
  encrypted.copy(packet, 0, 0, RTCP_CLEAR_BYTES);
  xorInto(packet, RTCP_CLEAR_BYTES, encrypted, RTCP_CLEAR_BYTES, keystream, bodyLength);
  return [packet, header];
}

/** RFC 3550 §5.1 padding, checked as werift does once the payload is decrypted. */
function withPadding(header: RtpHeader, packet: Buffer): RtpHeader {
  header.paddingSize = 0;
  if (!header.padding) return header;
  const paddingSize = packet.length > header.payloadOffset ? packet[packet.length - 1]! : 0;
  if (paddingSize === 0 || paddingSize > packet.length - header.payloadOffset) throw new SrtpAuthenticationError(AUTH_MESSAGE);
  header.paddingSize = paddingSize;
  return header;
}

/** werift's CipherAesCtr prototype, reached through a throwaway session (the class is not exported). */
export function weriftCtrCipherPrototype(): CtrCipher {
  const key = Buffer.alloc(16);
  const salt = Buffer.alloc(14);
  const session = new SrtpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
    profile: AES_CM_128_HMAC_SHA1_80,
  });
  const cipher = (session.localContext as unknown as { cipher: CtrCipher }).cipher;
  return Object.getPrototypeOf(cipher) as CtrCipher;
}

const REPLAY_MESSAGE = 'Replayed or too old SRTP packet';
/** Per cipher (one per session direction): RTP and RTCP windows per SSRC. */
const rtpWindows = new WeakMap<CtrCipher, ReplayWindows>();
const rtcpWindows = new WeakMap<CtrCipher, ReplayWindows>();
function replayWindowsOf(store: WeakMap<CtrCipher, ReplayWindows>, cipher: CtrCipher): ReplayWindows {
  let windows = store.get(cipher);
  if (!windows) store.set(cipher, (windows = new ReplayWindows()));
  return windows;
}

let installed = false;

/**
 * Makes every werift peer connection negotiate AES_CM_128_HMAC_SHA1_80 and protect its RTP with
 * the transform above. Idempotent.
 */
export function installFastSrtp(): void {
  if (installed) return;
  const prototype = weriftCtrCipherPrototype();
  const transport = RTCDtlsTransport.prototype as unknown as { srtpProfiles: number[]; start: (...args: unknown[]) => Promise<void> };
  checkPatchTargets('srtp-transform', [
    { name: 'CipherAesCtr.prototype.encryptRtp', current: prototype.encryptRtp, shape: '1bfd4490211022fd' },
    { name: 'CipherAesCtr.prototype.decryptRtp', current: prototype.decryptRtp, shape: 'e4b279abfa3ffb78' },
    { name: 'CipherAesCtr.prototype.encryptRTCP', current: prototype.encryptRTCP, shape: '7515f1398224b6e2' },
    { name: 'CipherAesCtr.prototype.decryptRTCP', current: prototype.decryptRTCP, shape: '1dffc45d652d1359' },
    { name: 'RTCDtlsTransport.prototype.start', current: transport.start, shape: 'a5df0cf574f94aec' },
  ]);
  installed = true;
  const { encryptRtp: originalEncrypt, decryptRtp: originalDecrypt, encryptRTCP: originalEncryptRtcp, decryptRTCP: originalDecryptRtcp } = prototype;
  prototype.encryptRtp = function (this: CtrCipher, header, payload, rolloverCounter) {
    return encryptRtp(this, header, payload, rolloverCounter, originalEncrypt);
  };
  prototype.decryptRtp = function (this: CtrCipher, cipherText, rolloverCounter, header) {
    // RFC 3711 §3.3.2: the index is ROC ‖ SEQ; replays and packets older than the window are refused.
    const ssrc = cipherText.readUInt32BE(8);
    const index = rolloverCounter * 65536 + cipherText.readUInt16BE(2);
    const windows = replayWindowsOf(rtpWindows, this);
    if (!windows.allows(ssrc, index)) throw new SrtpAuthenticationError(REPLAY_MESSAGE);
    const result = decryptRtp(this, cipherText, rolloverCounter, header, originalDecrypt);
    windows.accept(ssrc, index);
    return result;
  };
  prototype.encryptRTCP = function (this: CtrCipher, rtcp, srtcpIndex) {
    return encryptRtcp(this, rtcp, srtcpIndex, originalEncryptRtcp);
  };
  prototype.decryptRTCP = function (this: CtrCipher, encrypted) {
    // RFC 3711 §3.4: the SRTCP index (after the E flag) is checked against a replay window too.
    if (encrypted.length < RTCP_CLEAR_BYTES + SRTCP_INDEX_BYTES + AUTH_TAG_LENGTH) throw new SrtpAuthenticationError('SRTCP packet too short');
    const ssrc = encrypted.readUInt32BE(4);
    const index = encrypted.readUInt32BE(encrypted.length - AUTH_TAG_LENGTH - SRTCP_INDEX_BYTES) & 0x7fff_ffff;
    const windows = replayWindowsOf(rtcpWindows, this);
    if (!windows.allows(ssrc, index)) throw new SrtpAuthenticationError(REPLAY_MESSAGE);
    const result = decryptRtcp(this, encrypted, originalDecryptRtcp);
    windows.accept(ssrc, index);
    return result;
  };

  const originalStart = transport.start;
  transport.start = function (this: { srtpProfiles: number[] }, ...args: unknown[]) {
    const ctr = AES_CM_128_HMAC_SHA1_80;
    if (this.srtpProfiles.includes(ctr)) this.srtpProfiles = [ctr];
    return originalStart.apply(this, args);
  };
}
