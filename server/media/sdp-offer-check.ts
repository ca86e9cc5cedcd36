/**
 * Checks a browser's SDP offer before werift sees it, so a malformed or hostile offer gets a
 * reason a person can act on, and never werift's internal text or a half-made peer. Written by
 * hand: the checks are about what this server accepts (RFC 8829 / 8843 / 8839 fields it needs),
 * not a general SDP parser, and werift's own parser accepts offers it cannot use.
 */

export const SDP_LIMITS = {
  /** A page offers two (mic, camera); room for a data channel and a second video. */
  maxMediaSections: 4,
  /** Across all sections; Chrome with several interfaces offers ~10 per section. */
  maxCandidates: 40,
  maxLineLength: 4096,
} as const;

export class SdpOfferProblem extends Error {
  override name = 'SdpOfferProblem';
}

interface Section {
  kind: string;
  port: number;
  proto: string;
  attributes: string[];
}

const ICE_CHARS = /^[A-Za-z0-9+/]+$/;
const FINGERPRINT_BYTES: Record<string, number> = { 'sha-1': 20, 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 };

function attribute(lines: readonly string[], name: string): string | undefined {
  const prefix = `a=${name}:`;
  const line = lines.find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length).trim();
}

function checkFingerprint(value: string | undefined, where: string): void {
  if (value === undefined) throw new SdpOfferProblem(`the ${where} has no DTLS fingerprint (a=fingerprint), so the connection could not be secured`);
  const [hash, hex, extra] = value.split(/\s+/);
  const bytes = FINGERPRINT_BYTES[(hash ?? '').toLowerCase()];
  const parts = (hex ?? '').split(':');
  if (!bytes || extra !== undefined || parts.length !== bytes || !parts.every((p) => /^[0-9A-Fa-f]{2}$/.test(p))) {
    throw new SdpOfferProblem(`the ${where} has a malformed DTLS fingerprint`);
  }
}

function checkIceCredentials(ufrag: string | undefined, pwd: string | undefined, where: string): void {
  if (ufrag === undefined || pwd === undefined) throw new SdpOfferProblem(`the ${where} has no ICE credentials (a=ice-ufrag and a=ice-pwd)`);
  if (ufrag.length < 4 || ufrag.length > 256 || !ICE_CHARS.test(ufrag)) throw new SdpOfferProblem(`the ${where} has a malformed ICE username fragment`);
  if (pwd.length < 22 || pwd.length > 256 || !ICE_CHARS.test(pwd)) throw new SdpOfferProblem(`the ${where} has a malformed ICE password`);
}

/** `a=candidate:foundation component transport priority address port typ type …` (RFC 8839 §5.1). */
function checkCandidate(value: string): void {
  const [foundation, component, transport, priority, address, port, typ, type] = value.split(/\s+/);
  const ok =
    foundation !== undefined && foundation.length <= 32 &&
    /^\d{1,3}$/.test(component ?? '') &&
    /^(udp|tcp)$/i.test(transport ?? '') &&
    /^\d{1,10}$/.test(priority ?? '') &&
    address !== undefined && address.length > 0 && address.length <= 255 &&
    /^\d{1,5}$/.test(port ?? '') && Number(port) <= 65535 &&
    typ === 'typ' && /^(host|srflx|prflx|relay)$/.test(type ?? '');
  if (!ok) throw new SdpOfferProblem('the offer has a malformed ICE candidate');
}

/** Throws an SdpOfferProblem (a sentence fragment: "the offer has …") when `sdp` is unusable. */
export function checkSdpOffer(sdp: string): void {
  if (!sdp.startsWith('v=0')) throw new SdpOfferProblem('it is not an SDP document');
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const session: string[] = [];
  const sections: Section[] = [];
  let candidates = 0;
  for (const line of lines) {
    if (line.length > SDP_LIMITS.maxLineLength || line.includes('\0')) throw new SdpOfferProblem('the offer has a malformed line');
    if (line.startsWith('m=')) {
      if (sections.length === SDP_LIMITS.maxMediaSections) {
        throw new SdpOfferProblem(`the offer has more than ${SDP_LIMITS.maxMediaSections} media sections`);
      }
      const [kind, port, proto] = line.slice(2).split(/\s+/);
      if (!kind || !/^\d{1,5}$/.test(port ?? '') || !proto) throw new SdpOfferProblem('the offer has a malformed media line');
      sections.push({ kind, port: Number(port), proto, attributes: [] });
      continue;
    }
    if (line.startsWith('a=candidate:')) {
      if (++candidates > SDP_LIMITS.maxCandidates) throw new SdpOfferProblem(`the offer has more than ${SDP_LIMITS.maxCandidates} ICE candidates`);
      checkCandidate(line.slice('a=candidate:'.length));
    }
    (sections.at(-1)?.attributes ?? session).push(line);
  }

  const active = sections.filter((s) => s.port !== 0 || s.attributes.includes('a=bundle-only'));
  if (!active.some((s) => s.kind === 'audio')) throw new SdpOfferProblem('the offer has no audio (microphone) section');
  const mids: string[] = [];
  for (const section of active) {
    const where = `offer's ${section.kind} section`;
    if (!['audio', 'video', 'application'].includes(section.kind)) throw new SdpOfferProblem(`the offer has an unsupported "${section.kind.slice(0, 20)}" section`);
    if (!/UDP\/(TLS\/RTP\/SAVPF|DTLS\/SCTP)/.test(section.proto)) throw new SdpOfferProblem(`the ${where} is not DTLS-SRTP (UDP/TLS/RTP/SAVPF)`);
    const mid = attribute(section.attributes, 'mid');
    if (!mid) throw new SdpOfferProblem(`the ${where} has no a=mid`);
    mids.push(mid);
    checkFingerprint(attribute(section.attributes, 'fingerprint') ?? attribute(session, 'fingerprint'), where);
    checkIceCredentials(
      attribute(section.attributes, 'ice-ufrag') ?? attribute(session, 'ice-ufrag'),
      attribute(section.attributes, 'ice-pwd') ?? attribute(session, 'ice-pwd'),
      where,
    );
  }
  if (new Set(mids).size !== mids.length) throw new SdpOfferProblem('the offer repeats a media id (a=mid)');
  // The server answers with max-bundle: one transport for everything, so every section must be in the group.
  const bundle = session.find((l) => l.startsWith('a=group:BUNDLE'))?.split(/\s+/).slice(1) ?? [];
  if (active.length > 1 && !mids.every((mid) => bundle.includes(mid))) {
    throw new SdpOfferProblem('the offer does not bundle its media sections (a=group:BUNDLE)');
  }
}
