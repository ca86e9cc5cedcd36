/**
 * ICE_PUBLIC_IP: the answer's host candidates say the address the server sees on its interfaces,
 * which a browser outside a 1:1 NAT (a cloud VM's private address) cannot reach. Each IPv4 host
 * candidate gets a twin announcing `publicIp` on the same port (the NAT forwards it to the same
 * socket), like pion's NAT1To1IPs. The private ones stay for browsers on the same network.
 * By hand: werift has no setting for an announced address.
 */
export function announcePublicIp(sdp: string, publicIp: string): string {
  const lines = sdp.split('\r\n');
  const out: string[] = [];
  for (const line of lines) {
    out.push(line);
    // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ host …
    const match = /^a=candidate:(\S+) (\d+) (udp) (\d+) (\d{1,3}(?:\.\d{1,3}){3}) (\d+) typ host(.*)$/i.exec(line);
    if (!match) continue;
    const [, foundation, component, transport, priority, address, port, rest] = match;
    if (address === publicIp) continue;
    // Its own foundation (a different address is a different candidate base for pairing rules),
    // and a priority just below the private one.
    const twinFoundation = `${foundation!.slice(0, 28)}pub`;
    out.push(`a=candidate:${twinFoundation} ${component} ${transport} ${Number(priority) - 1} ${publicIp} ${port} typ host${rest}`);
  }
  return out.join('\r\n');
}
