/**
 * The key a client address is budgeted under (source-budget.ts): an IPv4
 * address as itself, an IPv6 address by its /64 prefix.
 *
 * One IPv6 subscriber is usually given a whole /64 (RFC 6177), and hosts
 * pick addresses inside it at will (privacy addresses, RFC 8981), so a
 * per-address budget gave one client as many buckets as it cared to make,
 * each evicting another source's. Per /64 is what IPv6 rate limiters
 * commonly use. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, which uWS reports for
 * IPv4 peers on a dual-stack socket) is the IPv4 address. Anything that does
 * not parse as IPv6 (IPv4, or a proxy header's odd value) is its own key.
 */
export function sourceKey(address: string): string {
  if (!address.includes(':')) return address;
  const h = hextets(address);
  if (h === undefined) return address;
  if (h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff) {
    return `${h[6]! >> 8}.${h[6]! & 255}.${h[7]! >> 8}.${h[7]! & 255}`;
  }
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address in any textual form (`::` compression, a dotted IPv4 tail, a zone id); undefined if it is not one. */
function hextets(address: string): number[] | undefined {
  let a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const q = p.split('.');
        if (q.length !== 4 || q.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
        const [b0, b1, b2, b3] = q.map(Number) as [number, number, number, number];
        out.push((b0 << 8) | b1, (b2 << 8) | b3);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}
