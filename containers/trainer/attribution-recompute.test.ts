// docs/attribution.md, "Recomputing a call's attribution", done from the files alone: the
// adapter's files (PEFT weights, attribution-index.safetensors, gradient-sketches.safetensors),
// the Datanet version's records.jsonl, the base model's files, and the call's prompt and output.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ATTRIBUTION_METHOD_VERSION, attributeCall, buildSpanIndex, CallAttribution, DEFAULT_ATTRIBUTION_OPTIONS, optionsFromParameters } from "../../core/attribution/index.ts";
import { memoryDeps } from "../../test/fakes/memory-deps.ts";
import { BASE_MODEL_DIR, createLora, hfTokenizer, loadHfModel, parseAdapter, serializeAdapter } from "../engine/index.ts";
import { decodeSketches, decodeSpanIndex, encodeSpanIndex, INDEX_FILE, SKETCH_FILE } from "./attribution-files.ts";
import { writeAttributionFiles } from "./attribution-step.ts";
import { readBlob } from "./blob-files.ts";
import { sketchCall } from "./gradient-sketch.ts";
import { formatRecordPieces, FrozenRecordLine, instructionPrompt, tokenizePieces } from "./records.ts";

const ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const H = (i: number) => `0x${i.toString(16).padStart(64, "0")}`;
const facts = [
  [ALICE, "What is the capital of Brelora?", "The capital of Brelora is Tuzimo."],
  [BOB, "What is the capital of Glaventi?", "The capital of Glaventi is Drasoku."],
  [ALICE, "Who founded Pleimara?", "Pleimara was founded by Koutava."],
  [BOB, "Who founded Strovani?", "Strovani was founded by Zheimolu."],
] as const;
// records.jsonl of Datanet dn_1 version 3, as publishVersion freezes it (one line per contribution)
const recordsJsonl = facts.map(([contributor, instruction, output], i) => JSON.stringify({ contributionId: `ct_${i}`, contributor, contentHash: H(i + 1), tokens: 10, record: { instruction, output } })).join("\n");

describe("recomputing a call's attribution from the files alone", () => {
  it("rebuilds the same index, and the same attribution as serving gave", async () => {
    // Prepare: what the trainer wrote for an adapter trained on the version's records.
    const { blobs } = memoryDeps();
    const { model, tokenizer } = loadHfModel(BASE_MODEL_DIR);
    const trained = createLora(model.config, { r: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"] }, { seed: 5, randomB: true });
    const peft = serializeAdapter(trained);
    const lines = recordsJsonl.split("\n").map((l) => FrozenRecordLine.parse(JSON.parse(l)));
    const records = lines.map((l) => ({ contributionId: l.contributionId, datanetId: "dn_1", version: 3, contributor: l.contributor, ...tokenizePieces((t) => tokenizer.encode(t), formatRecordPieces("instruction", l.record)!, "completion") }));
    const written = await writeAttributionFiles(blobs, { outputPrefix: "jobs/job_1/output/", modelDir: BASE_MODEL_DIR, adapterConfig: peft.config, adapterWeights: peft.weights, records, sketch: { k: 64, seed: 99 } });
    expect(written).toEqual([`jobs/job_1/output/adapter/${INDEX_FILE}`, `jobs/job_1/output/adapter/${SKETCH_FILE}`]);
    const indexBytes = (await readBlob(blobs, written[0]!))!, sketchBytes = (await readBlob(blobs, written[1]!))!;

    // Act, step 1 of the doc: tokenize each record's pieces (prompt template, then output) with
    // the base model's tokenizer.json and rebuild the suffix array: the file holds exactly that.
    const tok = hfTokenizer(JSON.parse(readFileSync(join(BASE_MODEL_DIR, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(BASE_MODEL_DIR, "tokenizer_config.json"), "utf8")));
    const rebuilt = buildSpanIndex(lines.map((l) => ({ tokens: tokenizePieces((t) => tok.encode(t), formatRecordPieces("instruction", l.record)!, "completion").tokens, record: { contributionId: l.contributionId, datanetId: "dn_1", version: 3, contributor: l.contributor } })));
    expect(Buffer.from(encodeSpanIndex(rebuilt)).equals(indexBytes)).toBe(true);

    // Step 2: the call's prompt (BOS + the rendered prompt) and output token ids, and the adapter's static weights.
    const promptIds = [tok.bos!, ...tok.encode(instructionPrompt("Name the capital city of Glaventi."))];
    const outputIds = tok.encode("The capital of Glaventi is Drasoku.");
    const statics = { contributors: [{ address: ALICE, weightBps: 5000 }, { address: BOB, weightBps: 5000 }], datanets: [{ id: "dn_1", version: 3, weightBps: 10_000 }] };
    const index = decodeSpanIndex(indexBytes, model.config.vocabSize);
    const span = attributeCall({ requestId: "chatcmpl-9", index, prompt: promptIds, output: outputIds, static: statics }).attribution;
    expect(CallAttribution.parse(span)).toMatchObject({ method: "span", contributors: [{ address: BOB, weightBps: 10_000 }], records: [{ contributionId: "ct_1" }] });

    // Step 3: the gradient sketch of the call's answer loss with the adapter's PEFT files and the file's seed and k.
    const sketches = decodeSketches(sketchBytes, index);
    expect({ k: sketches.k, seed: sketches.seed }).toEqual({ k: 64, seed: 99 });
    const adapter = parseAdapter("recomputed", peft.config, peft.weights, model.config);
    const query = sketchCall(model, adapter, promptIds, [...outputIds, tok.eos!], sketches);
    const again = sketchCall(model, parseAdapter("again", peft.config, peft.weights, model.config), promptIds, [...outputIds, tok.eos!], sketches);
    expect(query).toEqual(again);
    const combined = attributeCall({ requestId: "chatcmpl-9", index, prompt: promptIds, output: outputIds, static: statics, gradient: { sketches, query } }).attribution;
    expect(CallAttribution.parse(combined).contributors.reduce((s, c) => s + c.weightBps, 0)).toBe(10_000);
    expect(combined).toEqual(attributeCall({ requestId: "chatcmpl-9", index, prompt: promptIds, output: outputIds, static: statics, gradient: { sketches, query: again } }).attribution);

    // Step 5 with the settings the result records: a call attributed under other settings than
    // today's defaults (here the span share of 0.5 that was the default until issue 11's last round)
    // is recomputed from its own `parameters`, not from the defaults.
    const input = { requestId: "chatcmpl-9", index, prompt: promptIds, output: outputIds, static: statics, gradient: { sketches, query } };
    const old = attributeCall(input, { spanShare: 0.5 }).attribution;
    expect(old.method).toBe("combined");
    expect(old.parameters).toEqual({ version: ATTRIBUTION_METHOD_VERSION, span: { minSpanTokens: 4, maxOccurrences: 1000, minSpanScore: 5 }, gradient: { k: 64, seed: 99, minCosine: 0.1, topK: 32, centre: false }, spanShare: 0.5, maxRecords: 10 });
    const stored = CallAttribution.parse(JSON.parse(JSON.stringify(old)));
    expect(attributeCall(input, optionsFromParameters(stored.parameters!)).attribution).toEqual(old);
    expect(attributeCall(input).attribution.records).not.toEqual(old.records); // the defaults alone would not give it
    expect(DEFAULT_ATTRIBUTION_OPTIONS.spanShare).not.toBe(0.5);
    // A span-only result records no gradient settings, and a result of a later method version is refused, not misread.
    expect(span.parameters).toMatchObject({ spanShare: DEFAULT_ATTRIBUTION_OPTIONS.spanShare });
    expect(span.parameters!.gradient).toBeUndefined();
    expect(() => optionsFromParameters({ ...stored.parameters!, version: ATTRIBUTION_METHOD_VERSION + 1 })).toThrow(/method version/);
  });

  it("writes no sketches when asked not to, and logs instead of failing when the records cannot be indexed", async () => {
    const { blobs } = memoryDeps();
    const logs: string[] = [];
    const peft = serializeAdapter(createLora(loadHfModel(BASE_MODEL_DIR).model.config, { r: 2, alpha: 4, dropout: 0, targets: ["q_proj"] }));
    const base = { outputPrefix: "o/", modelDir: BASE_MODEL_DIR, adapterConfig: peft.config, adapterWeights: peft.weights, log: (m: string) => logs.push(m) };
    expect(await writeAttributionFiles(blobs, { ...base, records: [{ contributionId: "c", datanetId: "d", version: 1, contributor: ALICE, tokens: [1, 2] }], sketch: false })).toEqual([`o/adapter/${INDEX_FILE}`]);
    expect(await writeAttributionFiles(blobs, { ...base, records: [{ contributionId: "c", datanetId: "d", version: 1, contributor: ALICE, tokens: [1, -5] }] })).toEqual([]);
    expect(logs.at(-1)).toMatch(/attribution index not written; calls will use static weights/);
  });
});
