/**
 * EIP-4361 (Sign-In with Ethereum) message text, built by hand so the browser
 * bundle does not carry a parser it never uses. The test parses the result
 * with the `siwe` package the API verifies with.
 */

export interface SiweFields {
  /** RFC 3986 authority of the API, e.g. "127.0.0.1:8787". */
  domain: string;
  /** EIP-55 checksummed address. */
  address: string;
  statement: string;
  /** Origin the person is signing in to, e.g. "http://127.0.0.1:8787". */
  uri: string;
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expirationTime?: Date;
}

/** Formats the message exactly as EIP-4361 lays it out (line order matters). */
export function buildSiweMessage(f: SiweFields): string {
  if (f.statement.includes("\n")) throw new Error("SIWE statement must be a single line");
  const lines = [
    `${f.domain} wants you to sign in with your Ethereum account:`,
    f.address,
    "",
    f.statement,
    "",
    `URI: ${f.uri}`,
    "Version: 1",
    `Chain ID: ${f.chainId}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${f.issuedAt.toISOString()}`,
  ];
  if (f.expirationTime) lines.push(`Expiration Time: ${f.expirationTime.toISOString()}`);
  return lines.join("\n");
}
