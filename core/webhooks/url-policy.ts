import { BlockList, isIP } from "node:net";
import { DomainError } from "../errors.ts";
import type { HostResolver } from "../ports/host-resolver.ts";

/**
 * SSRF guard for webhook URLs. In the cloud a webhook must be https and must
 * not reach loopback, private, link-local (cloud metadata at 169.254.169.254)
 * or other special-purpose addresses; locally (`allowPrivateWebhookUrls`)
 * http and any address are fine, since the receiver usually runs on this machine.
 */

export type { HostResolver };

// IANA special-purpose ranges that no public webhook receiver lives in.
const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) blocked.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 96], // IPv4-compatible (deprecated) with :: and ::1: ::127.0.0.1 is loopback in disguise
  ["64:ff9b::", 96], // NAT64, well-known prefix: the translator can reach private IPv4
  ["64:ff9b:1::", 48], // NAT64, local-use prefix
  ["100::", 64],
  ["2001::", 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID
  ["2001:db8::", 32],
  ["3fff::", 20], // documentation
  ["5f00::", 16], // SRv6 SIDs
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) blocked.addSubnet(net, prefix, "ipv6");

/**
 * IPv6 ranges whose low bits are an IPv4 address that a connection may end
 * up at: the address is as private as the IPv4 one it carries. Each is its
 * leading groups (the rest of the /96, or /16, must match) and where the
 * IPv4 address sits.
 */
const ipv4Embeddings: readonly { prefix: readonly number[]; at: number }[] = [
  { prefix: [0, 0, 0, 0, 0, 0xffff], at: 6 }, // IPv4-mapped ::ffff:a.b.c.d (RFC 4291)
  { prefix: [0, 0, 0, 0, 0xffff, 0], at: 6 }, // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
  { prefix: [0x2002], at: 1 }, // 6to4 2002:AABB:CCDD::/48 tunnels to a.b.c.d (RFC 3056)
];

/** Whether an IP address is loopback, private or otherwise not publicly routable. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family !== 6) return true; // not an IP at all: refuse rather than guess
  const groups = ipv6Groups(address);
  if (!groups) return true;
  for (const { prefix, at } of ipv4Embeddings) {
    if (prefix.every((g, i) => groups[i] === g)) return blocked.check(ipv4Of(groups[at]!, groups[at + 1]!), "ipv4");
  }
  return blocked.check(groups.map((g) => g.toString(16)).join(":"), "ipv6");
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, `::` expanded, dotted tail converted). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, "");
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[2]!.split(".").map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, ...rest] = text.split("::");
  if (rest.length > 0) return undefined;
  const part = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<number>(tail === undefined ? 0 : missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function ipv4Of(high: number, low: number): string {
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

export interface UrlPolicy {
  allowPrivate: boolean;
  /** Needed when private addresses are not allowed and the host is a name. */
  resolve?: HostResolver;
}

/**
 * Throws DomainError `unsafe-webhook-url` (400) unless the URL may receive
 * webhooks under the policy. Resolves the host so a name that points inside
 * the network is refused too.
 */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  const url = checkWebhookUrlShape(raw, policy.allowPrivate);
  const host = urlHost(url);
  if (!policy.allowPrivate && !isIP(host)) {
    // A wiring mistake, not the caller's: without a resolver the check cannot be made, so refuse loudly.
    if (!policy.resolve) throw new Error("checkWebhookUrl: the cloud policy needs a HostResolver to check host names");
    await resolvePublicAddresses(host, policy.resolve);
  }
  return url;
}

/**
 * The checks that need no DNS: a valid http(s) URL without credentials and,
 * unless private targets are allowed, https with no private IP literal as host.
 * At send time this runs before the connection, whose own lookup checks names.
 */
export function checkWebhookUrlShape(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused("it is not a valid URL");
  }
  if (url.username || url.password) throw refused("it must not carry credentials");
  if (allowPrivate) {
    if (url.protocol !== "https:" && url.protocol !== "http:") throw refused("it must be http or https");
    return url;
  }
  if (url.protocol !== "https:") throw refused("it must be https");
  const host = urlHost(url);
  if (isIP(host) && isPrivateAddress(host)) throw refused("it points at a private, loopback or reserved address");
  return url;
}

/**
 * Resolves a host name once and returns its addresses, or throws
 * `unsafe-webhook-url` when it does not resolve or any address is private.
 */
export async function resolvePublicAddresses(
  host: string,
  resolve: HostResolver,
  isPrivate: (address: string) => boolean = isPrivateAddress,
): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch {
    throw refused(`its host ${host} does not resolve`);
  }
  if (addresses.length === 0) throw refused(`its host ${host} does not resolve`);
  if (addresses.some(isPrivate)) throw refused("it points at a private, loopback or reserved address");
  return addresses;
}

/** The URL's host without IPv6 brackets. */
function urlHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

function refused(why: string): DomainError {
  return new DomainError("unsafe-webhook-url", 400, `The webhook URL is refused: ${why}`);
}
