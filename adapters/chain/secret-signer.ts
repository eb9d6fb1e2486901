import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Wallet, type Provider } from "ethers";
import { z } from "zod";

/**
 * The chain signer's secret: either a bare 0x-prefixed private key, or JSON
 * `{"privateKey": "0x...", "rpcUrl": "https://..."}` when the RPC URL carries
 * an API key of its own and must not sit in the function's environment.
 */
const SecretJson = z.strictObject({
  privateKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x and 64 hex digits"),
  rpcUrl: z.url().optional(),
});
export type ChainSecret = z.infer<typeof SecretJson>;

/** Parses the secret's text; throws naming what is wrong (never echoing the value). */
export function parseChainSecret(text: string): ChainSecret {
  const trimmed = text.trim();
  if (/^0x[0-9a-fA-F]{64}$/.test(trimmed)) return { privateKey: trimmed };
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw new Error("chain signer secret is neither a 0x private key nor JSON");
  }
  const parsed = SecretJson.safeParse(json);
  if (!parsed.success) throw new Error(`chain signer secret is malformed: ${parsed.error.issues.map((i) => i.path.join(".") || "value").join(", ")}`);
  return parsed.data;
}

/** Reads the signer's secret from Secrets Manager. */
export async function loadChainSecret(client: SecretsManagerClient, secretId: string): Promise<ChainSecret> {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!SecretString) throw new Error(`secret ${secretId} has no string value`);
  return parseChainSecret(SecretString);
}

/** A Wallet for the secret's key on `provider`. */
export function walletFromSecret(secret: ChainSecret, provider: Provider): Wallet {
  return new Wallet(secret.privateKey, provider);
}
