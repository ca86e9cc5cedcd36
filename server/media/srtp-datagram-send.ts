import { isIP } from 'node:net';
import { Connection, RTCDtlsTransport, StunProtocol, UdpTransport, type RtpHeader } from 'werift';

/*
 * werift 0.24's RTCDtlsTransport.sendRtp and the chain under it (Connection.send →
 * StunProtocol.sendData → UdpTransport.send) are four async functions, plus a .catch, for one
 * socket.send(datagram, port, ip): five promises and their suspended frames per packet. For a
 * nominated UDP pair to an IP address, sendSrtp does the same steps synchronously — the same SRTP
 * call, the same transport and pair counters, the same checks, the same socket.send — and any
 * other transport (TURN, TCP, a hostname) goes through werift's chain, awaited as werift awaits it.
 * test/unit/werift-send-fast-paths.test.ts compares the datagrams and counters with werift's.
 */

interface Pair {
  protocol: unknown;
  remoteCandidate: { host: string; port: number };
  packetsSent: number;
  bytesSent: number;
}

interface ConnectionInternals {
  nominated?: Pair;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}

type UdpProtocol = { sendData: unknown; transport: { closed: boolean; socket: { send(data: Buffer, port: number, address: string): void } } };

/** The fields of werift's RTCDtlsTransport that sendSrtp uses. */
export interface DtlsInternals {
  state: string;
  config: { debug?: { outboundPacketLoss?: number } };
  srtp: { encrypt(payload: Buffer, header: RtpHeader): Buffer };
  iceTransport: { connection: ConnectionInternals };
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  sendRtp(payload: Buffer, header: RtpHeader): Promise<number>;
}

/** werift's own RTCDtlsTransport.prototype.sendRtp (this module does not replace it). */
export const weriftDtlsSendRtp = (RTCDtlsTransport.prototype as unknown as DtlsInternals).sendRtp;
const weriftStunSendData = (StunProtocol.prototype as unknown as { sendData: unknown }).sendData;
const noop = (): void => undefined;

/** Connection.send for a UDP pair to an IP address, synchronously; otherwise werift's chain. */
function sendDatagram(connection: ConnectionInternals, data: Buffer): Promise<void> | undefined {
  if (!((connection as unknown) instanceof Connection)) return connection.send(data).catch(noop);
  if (!connection.canSendApplicationData()) return undefined;
  const pair = connection.nominated!;
  const protocol = pair.protocol as UdpProtocol;
  const remote = pair.remoteCandidate as Pair['remoteCandidate'] | undefined;
  const plainUdp =
    (protocol as unknown) instanceof StunProtocol && protocol.sendData === weriftStunSendData && (protocol.transport as unknown) instanceof UdpTransport;
  if (!plainUdp || !remote || !isIP(remote.host)) return connection.send(data).catch(noop);
  if (!protocol.transport.closed) {
    try {
      protocol.transport.socket.send(data, remote.port, remote.host);
    } catch {
      return undefined; // werift's chain rejects here, before counting, and swallows the rejection
    }
  }
  pair.packetsSent++;
  pair.bytesSent += data.length;
  return undefined;
}

/**
 * RTCDtlsTransport.sendRtp: SRTP-protect, count, send. Returns the protected size (0 when it
 * failed, as werift reports), or a promise of it when the datagram went through werift's chain.
 */
export function sendSrtp(dtls: DtlsInternals, payload: Buffer, header: RtpHeader): number | Promise<number> {
  try {
    const encrypted = dtls.srtp.encrypt(payload, header);
    const loss = dtls.config.debug?.outboundPacketLoss;
    if (loss && loss / 100 < Math.random()) return encrypted.length;
    dtls.bytesSent += encrypted.length;
    dtls.packetsSent++;
    const pending = sendDatagram(dtls.iceTransport.connection, encrypted);
    return pending ? pending.then(() => encrypted.length) : encrypted.length;
  } catch {
    return 0; // werift logs "failed to send" (debug) and reports 0 bytes
  }
}
