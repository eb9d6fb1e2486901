/**
 * Resolves a host name to all its addresses (DNS). The webhook URL policy
 * uses it to refuse names that point inside the network; injectable so tests
 * need no DNS. The system resolver lives in adapters/webhooks.
 */
export type HostResolver = (hostname: string) => Promise<string[]>;
