import type { LookupAddress, LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent } from "undici";
import type { HostResolver } from "../../core/ports/host-resolver.ts";
import { isPrivateAddress, resolvePublicAddresses } from "../../core/webhooks/url-policy.ts";
import { systemResolver } from "./system-resolver.ts";

/**
 * Closes the DNS-rebinding gap of "check the name, then let fetch resolve it
 * again": the connection's own lookup resolves the name once, refuses it
 * unless every address is public, and connects to exactly the addresses it
 * checked. A name that answers a public address to the check and a private
 * one to the connection therefore never reaches the private one.
 */

/** A `net.connect` lookup that resolves once with `resolve` and yields only checked, public addresses. */
export function checkedLookup(resolve: HostResolver): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    resolvePublicAddresses(hostname, resolve, isPrivateAddress).then(
      (addresses) => {
        const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : (options.family ?? 0);
        const usable: LookupAddress[] = addresses
          .map((address) => ({ address, family: isIP(address) }))
          .filter((a) => family === 0 || a.family === family);
        const first = usable[0];
        if (!first) {
          const error: NodeJS.ErrnoException = new Error(`${hostname} has no IPv${family} address`);
          error.code = "ENOTFOUND";
          callback(error, "", 0);
        } else if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: Error) => callback(error, "", 0),
    );
  };
}

/**
 * An HTTP agent for webhook deliveries in the cloud: every new connection
 * goes through `checkedLookup`. Reused connections stay pinned to the
 * address checked when they were opened.
 */
export function createPinnedAgent(resolve: HostResolver = systemResolver): Agent {
  return new Agent({ connect: { lookup: checkedLookup(resolve) } });
}
