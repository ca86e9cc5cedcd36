import makeMdns from 'multicast-dns';

/*
 * Browsers hide their host address behind a random `<uuid>.local` name (mDNS, RFC 6762) when the
 * page has no camera permission or the browser always obfuscates (Firefox with fake devices).
 * werift 0.24 looks such names up in the background and starts its connectivity checks at once:
 * with no other candidate the check list is empty and ICE fails in the same millisecond. So the
 * offer's `.local` candidates are resolved before werift sees them (multicast-dns, the library
 * werift itself uses); those that do not resolve in time are left out.
 */

const MDNS_NAME = /^[0-9a-z-]+\.local$/i;
const DEFAULT_TIMEOUT_MS = 3000;

/** The `.local` hosts named by the offer's candidate lines. */
export function mdnsHostsOf(sdp: string): string[] {
  const hosts = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    const host = candidateHost(line);
    if (host && MDNS_NAME.test(host)) hosts.add(host.toLowerCase());
  }
  return [...hosts];
}

/** a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ … */
function candidateHost(line: string): string | undefined {
  if (!line.startsWith('a=candidate:')) return undefined;
  return line.split(' ')[4];
}

/** The SDP with each `.local` candidate's name replaced by its address, or the line dropped. */
export function replaceMdnsHosts(sdp: string, addresses: ReadonlyMap<string, string>): string {
  const lineBreak = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(lineBreak)
    .flatMap((line) => {
      const host = candidateHost(line);
      if (!host || !MDNS_NAME.test(host)) return [line];
      const address = addresses.get(host.toLowerCase());
      if (!address) return [];
      const fields = line.split(' ');
      fields[4] = address;
      return [fields.join(' ')];
    })
    .join(lineBreak);
}

export type MdnsResolver = (hosts: readonly string[], timeoutMs: number) => Promise<Map<string, string>>;

/** Asks the local network for the IPv4 address of each name; answers after `timeoutMs` are ignored. */
export const resolveOverMulticast: MdnsResolver = (hosts, timeoutMs) =>
  new Promise((resolve) => {
    const found = new Map<string, string>();
    if (hosts.length === 0) return resolve(found);
    const wanted = new Set(hosts);
    let mdns: ReturnType<typeof makeMdns>;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      try {
        mdns.destroy();
      } catch {
        // already closed
      }
      resolve(found);
    };
    try {
      mdns = makeMdns();
    } catch {
      return resolve(found);
    }
    mdns.on('error', finish);
    mdns.on('response', (response) => {
      for (const answer of [...response.answers, ...(response.additionals ?? [])]) {
        const name = answer.name.toLowerCase();
        if (answer.type === 'A' && wanted.has(name) && typeof answer.data === 'string') found.set(name, answer.data);
      }
      if (found.size === wanted.size) finish();
    });
    timer = setTimeout(finish, timeoutMs);
    mdns.query(hosts.map((name) => ({ name, type: 'A' as const })));
  });

export interface DeferredMdnsCandidates {
  /** The offer without its `.local` candidates (werift would look them up itself, too late). */
  sdp: string;
  /** Those candidates with their names resolved, for addIceCandidate; unresolved ones left out. */
  resolved: Promise<{ candidate: string; sdpMid?: string }[]>;
}

/**
 * Takes the `.local` candidates out of the offer and resolves them in the background, so the
 * answer is not held up; the ICE wait patch (werift-ice-wait-patch.ts) holds the checks until a
 * remote candidate (one of these, or a peer-reflexive one from the browser's own checks) exists.
 */
export function deferMdnsCandidates(sdp: string, options: { timeoutMs?: number; resolver?: MdnsResolver } = {}): DeferredMdnsCandidates {
  const hosts = mdnsHostsOf(sdp);
  if (hosts.length === 0) return { sdp, resolved: Promise.resolve([]) };
  const lineBreak = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(lineBreak);
  // Each line's media section, and each section's mid (a=mid may come after the candidates).
  const mids: (string | undefined)[] = [undefined];
  const sectionOf = lines.map((line) => {
    if (line.startsWith('m=')) mids.push(undefined);
    if (line.startsWith('a=mid:')) mids[mids.length - 1] = line.slice('a=mid:'.length).trim();
    return mids.length - 1;
  });
  const deferred: { line: string; host: string; sdpMid?: string }[] = [];
  const kept = lines.filter((line, index) => {
    const host = candidateHost(line);
    if (!host || !MDNS_NAME.test(host)) return true;
    deferred.push({ line, host: host.toLowerCase(), sdpMid: mids[sectionOf[index]!] });
    return false;
  });
  const resolved = (options.resolver ?? resolveOverMulticast)(hosts, options.timeoutMs ?? DEFAULT_TIMEOUT_MS).then((addresses) =>
    deferred.flatMap(({ line, host, sdpMid }) => {
      const address = addresses.get(host);
      if (!address) return [];
      const fields = line.slice('a='.length).split(' ');
      fields[4] = address;
      return [{ candidate: fields.join(' '), ...(sdpMid === undefined ? {} : { sdpMid }) }];
    }),
  );
  return { sdp: kept.join(lineBreak), resolved };
}
