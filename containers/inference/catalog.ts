// Which models a caller may name: the base models the backend serves, and every adapter record
// in the tables whose base model is one of them and that the caller may read (a private
// adapter exists only for its owner). Adapters need no registration step: the record that
// finalize wrote is enough, and the files are fetched when the first call comes.
import type { Caller } from "../../core/account.ts";
import { canReadAdapter } from "../../core/adapters/access.ts";
import { adapterFromItem, ADAPTERS_GSI_PK, loadAdapter, type Adapter } from "../../core/adapters/index.ts";
import { readPrice } from "../../core/adapters/price.ts";
import type { Tables } from "../../core/ports/tables.ts";
import { queryAll } from "../../core/query-all.ts";
import type { BackendBaseModel } from "./backend.ts";
import type { ServedModel } from "./hooks.ts";

export interface CatalogOptions {
  tables: Tables;
  baseModels: BackendBaseModel[];
  /** How long an adapter record is reused before it is read again (default 10 s). */
  recordTtlMs?: number;
  now?: () => number;
}

/** Old adapter items carry neither field: they are public and were trained with the instruction template. */
function servedAdapter(a: Adapter): ServedModel {
  return {
    id: a.id,
    kind: "adapter",
    baseModel: a.baseModel,
    owner: a.owner,
    visibility: a.visibility ?? "public",
    promptTemplate: a.promptTemplate ?? "instruction",
    pricePerCall: a.pricePerCall,
    created: Math.floor(Date.parse(a.createdAt) / 1000),
    files: { config: a.files.config, weights: a.files.weights },
  };
}

const visible = (m: ServedModel, caller: Caller | null) => m.kind === "base" || canReadAdapter({ owner: m.owner!, visibility: m.visibility }, caller ?? undefined);

export class ModelCatalog {
  readonly #opts: Required<CatalogOptions>;
  readonly #bases = new Map<string, ServedModel>();
  // adapter records read recently: every call names one, and the table need not answer each
  readonly #records = new Map<string, { model: ServedModel; at: number }>();

  constructor(opts: CatalogOptions) {
    this.#opts = { recordTtlMs: 10_000, now: Date.now, ...opts };
    for (const b of opts.baseModels) {
      this.#bases.set(b.id, { id: b.id, kind: "base", baseModel: b.id, owner: null, visibility: "public", promptTemplate: "text", pricePerCall: "0", created: 0 });
    }
  }

  /** The model `id` names for this caller, or undefined (unknown, or private to someone else). */
  async resolve(id: string, caller: Caller | null): Promise<ServedModel | undefined> {
    const base = this.#bases.get(id);
    if (base) return base;
    const model = await this.#adapter(id);
    return model && visible(model, caller) ? model : undefined;
  }

  /** Blob keys of an adapter's files (the AdapterCache's remote tier asks this). */
  async files(id: string): Promise<{ config: string; weights: string } | undefined> {
    return (await this.#adapter(id))?.files;
  }

  /** Every model the caller may call, with its price: base models first, then adapters newest first. */
  async list(caller: Caller | null): Promise<ServedModel[]> {
    const out = [...this.#bases.values()];
    for await (const item of queryAll(this.#opts.tables.main, { pk: ADAPTERS_GSI_PK, index: "gsi1", reverse: true })) {
      const m = servedAdapter(adapterFromItem(item));
      if (this.#bases.has(m.baseModel) && visible(m, caller)) out.push(m);
    }
    return Promise.all(out.map((m) => this.priced(m)));
  }

  /** The model with the price its owner set (a base model, and an adapter never priced, are free). */
  async priced(m: ServedModel): Promise<ServedModel> {
    if (m.kind === "base") return { ...m, price: { perCall: "0", perThousandOutputTokens: "0" } };
    const { perCall, perThousandOutputTokens } = await readPrice(this.#opts.tables.main, m.id);
    return { ...m, price: { perCall, perThousandOutputTokens } };
  }

  async #adapter(id: string): Promise<ServedModel | undefined> {
    const now = this.#opts.now();
    const hit = this.#records.get(id);
    if (hit && now - hit.at < this.#opts.recordTtlMs) return hit.model;
    const record = await loadAdapter({ tables: this.#opts.tables }, id);
    if (!record) {
      this.#records.delete(id);
      return undefined;
    }
    const model = servedAdapter(record);
    if (this.#records.size >= 50_000) this.#records.delete(this.#records.keys().next().value!);
    this.#records.set(id, { model, at: now });
    return model;
  }
}
