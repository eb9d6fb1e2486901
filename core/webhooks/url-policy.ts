import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { DomainError } from "../errors.ts";

/**
 * SSRF guard for webhook URLs. In the cloud a webhook must be https and must
 * not reach loopback, private, link-local (cloud metadata at 169.254.169.254)
 * or other special-purpose addresses; locally (`allowPrivateWebhookUrls`)
 * http and any address are fine, since the receiver usually runs on this machine.
 */

/** Resolves a host name to all its addresses; injectable so tests need no DNS. */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** Resolves with the system resolver (getaddrinfo), as fetch will when it connects. */
export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

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
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) blocked.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 127], // :: and ::1
  ["64:ff9b::", 96], // NAT64 can reach private IPv4
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) blocked.addSubnet(net, prefix, "ipv6");

/** Whether an IP address is loopback, private or otherwise not publicly routable. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family !== 6) return true; // not an IP at all: refuse rather than guess
  const lower = address.toLowerCase();
  // IPv4-mapped (::ffff:a.b.c.d or ::ffff:XXXX:XXXX) is the IPv4 address in disguise.
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(.+)$/.exec(lower)?.[1];
  if (mapped !== undefined) {
    if (isIP(mapped) === 4) return blocked.check(mapped, "ipv4");
    const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(mapped);
    if (hex) {
      const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
      return blocked.check([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join("."), "ipv4");
    }
  }
  return blocked.check(address, "ipv6");
}

export interface UrlPolicy {
  allowPrivate: boolean;
  resolve?: HostResolver;
}

/**
 * Throws DomainError `unsafe-webhook-url` (400) unless the URL may receive
 * webhooks under the policy. Resolves the host so a name that points inside
 * the network is refused too.
 */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused("it is not a valid URL");
  }
  if (url.username || url.password) throw refused("it must not carry credentials");
  if (policy.allowPrivate) {
    if (url.protocol !== "https:" && url.protocol !== "http:") throw refused("it must be http or https");
    return url;
  }
  if (url.protocol !== "https:") throw refused("it must be https");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(host);
    } catch {
      throw refused(`its host ${host} does not resolve`);
    }
    if (addresses.length === 0) throw refused(`its host ${host} does not resolve`);
  }
  if (addresses.some(isPrivateAddress)) throw refused("it points at a private, loopback or reserved address");
  return url;
}

function refused(why: string): DomainError {
  return new DomainError("unsafe-webhook-url", 400, `The webhook URL is refused: ${why}`);
}
