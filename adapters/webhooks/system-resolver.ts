import { lookup } from "node:dns/promises";
import type { HostResolver } from "../../core/ports/host-resolver.ts";

/** Resolves with the system resolver (getaddrinfo), as a plain connection would. */
export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
