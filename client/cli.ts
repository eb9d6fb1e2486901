/**
 * `npm run client -- <command>`: pay per call from a terminal.
 *
 *   npm run client -- chat --model ad_… "What is the capital of France?"
 *   npm run client -- chat --model ad_… --stream --max-tokens 64 "Tell me more"
 *   npm run client -- models
 *   npm run client -- channel open   --model ad_… [--deposit 5]
 *   npm run client -- channel fund   --model ad_… 5
 *   npm run client -- channel status --model ad_…
 *   npm run client -- faucet --model ad_… [100]            (the local chain's test token only)
 *
 * Amounts on the command line are in tokens (tUSD, 6 decimals): `--deposit 5` is 5 000 000 base units.
 * Settings come from flags or the environment:
 *   --url / MF_URL            the platform's origin (default http://127.0.0.1:8787)
 *   --key / MF_PRIVATE_KEY    the payer's private key (opens and funds channels)
 *   --dev-account N           instead of a key: development account N (1–9) of the local chain (`npm start`)
 *   --rpc / MF_RPC_URL        the chain's JSON-RPC (default http://127.0.0.1:8545, what `npm start` serves)
 *   --state / MF_STATE        where channels and their session keys are kept (default ~/.mf-client/channels.json)
 *   --api-key / MF_API_KEY    an API key, for models that are free (a priced model needs none)
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatUnits, HDNodeWallet, JsonRpcProvider, Mnemonic, parseUnits, Wallet, type Signer } from "ethers";
import { FileChannelStore } from "./channel-store.ts";
import { EscrowClient } from "./escrow.ts";
import { PayingClient, PaymentError, type Receipt } from "./paying-client.ts";

/** Hardhat's well-known development mnemonic (as adapters/chain/edr.ts, not imported: that loads Hardhat). Local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const DECIMALS = 6;
const LOCAL_CHAIN_ID = 31337;

const USAGE = `usage: npm run client -- <command> [options]
  chat --model <id> [--max-tokens N] [--stream] [--temperature T] "question"
  models
  channel open --model <id> [--deposit TOKENS]
  channel fund --model <id> TOKENS
  channel status --model <id>
  faucet --model <id> [TOKENS]        mint test tokens (local chain only)
options: --url, --key | --dev-account N, --rpc, --state, --api-key (or MF_URL, MF_PRIVATE_KEY, MF_RPC_URL, MF_STATE, MF_API_KEY)`;

export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    out(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command ? 0 : 2;
  }
  const url = values.url ?? process.env.MF_URL ?? "http://127.0.0.1:8787";
  const rpc = values.rpc ?? process.env.MF_RPC_URL ?? "http://127.0.0.1:8545";
  const statePath = values.state ?? process.env.MF_STATE ?? join(homedir(), ".mf-client", "channels.json");
  const apiKey = values["api-key"] ?? process.env.MF_API_KEY;
  let provider: JsonRpcProvider | undefined;
  const payer = (): Signer | undefined => {
    const key = values.key ?? process.env.MF_PRIVATE_KEY;
    const dev = values["dev-account"];
    if (!key && dev === undefined) return undefined;
    // No response cache: a cached nonce would make the open right after the approve reuse it.
    provider ??= new JsonRpcProvider(rpc, undefined, { cacheTimeout: -1, pollingInterval: 250 });
    if (key) return new Wallet(key, provider);
    const n = Number(dev);
    // Account 0 is the platform's own key (the service); 1–9 are funded for users.
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new UsageError("--dev-account takes 1 to 9");
    return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${n}`).connect(provider);
  };
  const client = (onReceipt?: (r: Receipt) => void) => {
    const signer = payer();
    return new PayingClient({
      ...(onReceipt ? { onReceipt } : {}),
      baseURL: url,
      ...(signer ? { payer: signer } : {}),
      store: new FileChannelStore(statePath),
      ...(values.deposit ? { deposit: tokens(values.deposit) } : {}),
      ...(apiKey ? { apiKey } : {}),
      log: (line) => out(`  ${line}`),
    });
  };
  const model = () => {
    if (!values.model) throw new UsageError("--model <id> is needed");
    return values.model;
  };

  try {
    switch (command) {
      case "chat": {
        const question = rest.join(" ").trim();
        if (!question) throw new UsageError('chat needs a question: chat --model <id> "question"');
        let receipt: Receipt | undefined;
        const c = client((r) => (receipt = r));
        const openai = c.openai();
        const body = {
          model: model(),
          messages: [{ role: "user" as const, content: question }],
          ...(values["max-tokens"] ? { max_tokens: positiveInt(values["max-tokens"], "--max-tokens") } : {}),
          ...(values.temperature ? { temperature: Number(values.temperature) } : {}),
        };
        if (values.stream) {
          const stream = await openai.chat.completions.create({ ...body, stream: true });
            let line = "";
          for await (const chunk of stream) {
            const text = chunk.choices[0]?.delta?.content ?? "";
            line += text;
            if (text) process.stdout.write(text);
          }
          process.stdout.write(line.endsWith("\n") ? "" : "\n");
        } else {
          const r = await openai.chat.completions.create(body);
          out(r.choices[0]?.message.content ?? "");
          out(`  ${r.usage?.prompt_tokens ?? "?"} prompt + ${r.usage?.completion_tokens ?? "?"} completion tokens, finish ${r.choices[0]?.finish_reason}`);
        }
        if (receipt) {
          const r: Receipt = receipt;
          const ch = c.store.list().find((x) => x.channelId === r.channelId.toLowerCase());
          out(`  paid ${fmt(r.charged)} tUSD; channel ${short(r.channelId)}: ${fmt(r.cumulativeCharged)} charged in total${ch ? ` of ${fmt(BigInt(ch.deposit))} deposited` : ""}`);
        }
        return 0;
      }
      case "models": {
        const res = await fetch(`${url}/v1/models`, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
        if (!res.ok) throw new Error(`GET /v1/models: HTTP ${res.status} ${await res.text()}`);
        const { data } = (await res.json()) as { data: { id: string; owned_by?: string; price?: { perCall: string; perThousandOutputTokens: string } | null }[] };
        for (const m of data) {
          const price = m.price && (m.price.perCall !== "0" || m.price.perThousandOutputTokens !== "0") ? `${fmt(BigInt(m.price.perCall))} tUSD per call + ${fmt(BigInt(m.price.perThousandOutputTokens))} per 1k tokens` : "free (API key)";
          out(`${m.id.padEnd(32)} ${price}`);
        }
        return 0;
      }
      case "channel": {
        const [sub, amount] = rest;
        const c = client();
        if (sub === "open") {
          const ch = await c.openChannel(model(), values.deposit ? tokens(values.deposit) : undefined);
          out(`channel ${ch.channelId}: ${fmt(BigInt(ch.deposit))} tUSD deposited, vouchers signed by ${new Wallet(ch.signingKey).address} (key in ${statePath})`);
          return 0;
        }
        if (sub === "fund") {
          if (!amount) throw new UsageError("channel fund --model <id> TOKENS");
          const ch = await c.fund(model(), tokens(amount));
          out(`channel ${ch.channelId}: ${fmt(BigInt(ch.deposit))} tUSD deposited in total`);
          return 0;
        }
        if (sub === "status") {
          const s = await c.status(model());
          out(`payment terms: chain ${s.terms.chainId}, escrow ${s.terms.escrow}, service ${s.terms.service}, token ${s.terms.asset}`);
          if (s.balance !== undefined) out(`wallet: ${fmt(s.balance)} tUSD`);
          if (!s.channel) {
            out("no channel yet: `channel open` (or the first paid chat opens one)");
            return 0;
          }
          out(`channel ${s.channel.channelId} (opened ${s.channel.openedAt})`);
          out(`  this client: ${fmt(BigInt(s.channel.charged))} tUSD charged of ${fmt(BigInt(s.channel.deposit))} deposited; vouchers signed up to ${fmt(BigInt(s.channel.signed))}`);
          if (s.onChain) {
            const w = s.onChain.withdrawal ? `; withdrawal of ${fmt(s.onChain.withdrawal.amount)} possible at ${new Date(s.onChain.withdrawal.availableAt * 1000).toISOString()}` : "";
            out(`  on chain: ${fmt(s.onChain.deposit)} tUSD deposited, ${fmt(s.onChain.redeemed)} redeemed by the service${w}`);
          }
          return 0;
        }
        throw new UsageError("channel open | fund | status");
      }
      case "faucet": {
        const signer = payer();
        if (!signer) throw new UsageError("faucet needs a payer: --key or --dev-account");
        const terms = await client().terms(model());
        if (terms.chainId !== LOCAL_CHAIN_ID) throw new UsageError(`the faucet is for the local chain (${LOCAL_CHAIN_ID}); this platform is paid on ${terms.chainId}`);
        const escrow = new EscrowClient(signer, terms.escrow, terms.asset);
        await escrow.mintTestTokens(tokens(rest[0] ?? "100"));
        out(`wallet ${await signer.getAddress()}: ${fmt(await escrow.balance())} tUSD`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      out(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof PaymentError) {
      out(`payment failed (${error.reason}): ${error.message}`);
      return 1;
    }
    // The openai package reports a throw inside its fetch (ours: a chain call that failed) as "Connection error".
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof PaymentError) {
      out(`payment failed (${cause.reason}): ${cause.message}`);
      return 1;
    }
    out(`error: ${(error as Error).message}${cause instanceof Error ? ` (${cause.message})` : ""}`);
    return 1;
  } finally {
    provider?.destroy();
  }
}

class UsageError extends Error {}

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string", short: "m" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      stream: { type: "boolean" },
      deposit: { type: "string" },
      url: { type: "string" },
      key: { type: "string" },
      "dev-account": { type: "string" },
      rpc: { type: "string" },
      state: { type: "string" },
      "api-key": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function tokens(s: string): bigint {
  try {
    const v = parseUnits(s, DECIMALS);
    if (v <= 0n) throw new Error();
    return v;
  } catch {
    throw new UsageError(`${s} is not a positive token amount (e.g. 5 or 0.25)`);
  }
}

function positiveInt(s: string, name: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

const fmt = (units: bigint) => formatUnits(units, DECIMALS);
const short = (id: string) => `${id.slice(0, 10)}…`;

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
