import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";

/**
 * What a paying client remembers between calls and runs: per channel, the
 * key that signs its vouchers and the cumulative amounts. The signing key is
 * a fresh key per channel (a session key), so the payer's own key is only
 * needed to open and fund channels; the file is written 0600 because whoever
 * holds it can spend the channel's deposit.
 */

const Decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);
const Hex = z.string().regex(/^0x[0-9a-fA-F]+$/);

export const StoredChannel = z.strictObject({
  chainId: z.number().int().positive(),
  escrow: Hex,
  /** The service the channel pays (the quote's payTo). */
  service: Hex,
  asset: Hex,
  channelId: Hex,
  payer: Hex,
  /** Private key of the channel's signing key. */
  signingKey: Hex,
  /** What was deposited in total, as this client knows it. */
  deposit: Decimal,
  /** The channel's cumulative charge as the last receipt (or quote) stated it. */
  charged: Decimal,
  /** The highest cumulative amount this client signed. */
  signed: Decimal,
  openedAt: z.string(),
  /** Set when the platform stopped accepting vouchers on it (closing or defaulted): a new channel is opened. */
  retired: z.string().optional(),
});
export type StoredChannel = z.infer<typeof StoredChannel>;

const ClientState = z.strictObject({ version: z.literal(1), channels: z.array(StoredChannel) });
type ClientState = z.infer<typeof ClientState>;

/** Where channels are kept; `save` is called after every change. */
export interface ChannelStore {
  list(): StoredChannel[];
  save(channel: StoredChannel): void;
}

/** The channel of `terms` this client pays with: the newest one not retired. */
export function activeChannel(store: ChannelStore, t: { chainId: number; escrow: string; service: string }): StoredChannel | undefined {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  return store
    .list()
    .filter((c) => c.chainId === t.chainId && same(c.escrow, t.escrow) && same(c.service, t.service) && !c.retired)
    .at(-1);
}

export class MemoryChannelStore implements ChannelStore {
  readonly #channels: StoredChannel[] = [];
  list() {
    return [...this.#channels];
  }
  save(channel: StoredChannel) {
    const i = this.#channels.findIndex((c) => c.channelId === channel.channelId);
    if (i >= 0) this.#channels[i] = channel;
    else this.#channels.push(channel);
  }
}

/** A JSON file (written atomically, mode 0600); a file of another shape is refused, never overwritten. */
export class FileChannelStore implements ChannelStore {
  readonly path: string;
  #state: ClientState;

  constructor(path: string) {
    this.path = path;
    if (!existsSync(path)) {
      this.#state = { version: 1, channels: [] };
      return;
    }
    const parsed = ClientState.safeParse(JSON.parse(readFileSync(path, "utf8")));
    if (!parsed.success) throw new Error(`${path} is not a paying client's state file: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    this.#state = parsed.data;
  }

  list() {
    return [...this.#state.channels];
  }

  save(channel: StoredChannel) {
    const channels = this.#state.channels.filter((c) => c.channelId !== channel.channelId);
    const i = this.#state.channels.findIndex((c) => c.channelId === channel.channelId);
    if (i >= 0) channels.splice(i, 0, channel);
    else channels.push(channel);
    this.#state = { version: 1, channels };
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.#state, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
