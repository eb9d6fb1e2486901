import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import OpenAI from "openai";
import { DevClient } from "../dev-client.ts";
import type { Platform } from "../platform.ts";
import { CAPITALS } from "./capitals.ts";
import { payForDemoCalls } from "./paid-calls.ts";

interface DemoState {
  datanetId: string;
  version: number;
  root: string;
  jobId?: string;
  adapterId?: string;
  owner: { address: string; privateKey: string; apiKey: string };
  contributor: { address: string; privateKey: string; apiKey: string };
}

/**
 * Seeds a demo on an empty data directory, through the public API as a user
 * would: two wallets sign in, one creates a Datanet, both upload (one JSONL
 * file with a few bad records, one CSV file), ingest runs, the owner publishes
 * version 1 (written on chain), fine-tunes the base model on it and gets an
 * adapter registered on chain. On later starts it only reprints where to look.
 */
export async function seedDemo(platform: Platform, dataDir: string): Promise<void> {
  const statePath = join(dataDir, "demo.json");
  if (existsSync(statePath)) {
    print(platform, JSON.parse(readFileSync(statePath, "utf8")) as DemoState, false);
    return;
  }
  const anyDatanet = await platform.deps.tables.main.query({ pk: "DATANETS", index: "gsi1", limit: 1 });
  if (anyDatanet.items.length > 0) return; // a data directory someone already uses: leave it alone

  console.log("  Seeding the demo (DEMO=off skips it)…");
  const ownerWallet = Wallet.createRandom();
  const contributorWallet = Wallet.createRandom();
  const owner = new DevClient(platform.url);
  const contributor = new DevClient(platform.url);
  await owner.signIn(new Wallet(ownerWallet.privateKey));
  await contributor.signIn(new Wallet(contributorWallet.privateKey));

  const datanet = await owner.request<{ id: string }>("POST", "/v1/datanets", {
    name: "World capitals Q&A",
    description: "Short instruction/answer pairs about the capital cities of the world.",
    license: "CC-BY-4.0",
    schema: "instruction",
    visibility: "public",
    tags: ["geography", "demo"],
  });

  const half = Math.ceil(CAPITALS.length / 2);
  const jsonl = [
    ...CAPITALS.slice(0, half).map(([country, capital]) =>
      JSON.stringify({ instruction: `What is the capital of ${country}?`, output: `The capital of ${country} is ${capital}.` }),
    ),
    '{"instruction": "What is the capital of Peru?", "output": ', // cut off: invalid JSON
    JSON.stringify({ instruction: "Name a capital.", output: "Lima.", source: "web" }), // unknown field
    JSON.stringify({ instruction: "What is the capital of Chile?" }), // no output
  ].join("\n");
  const csv = [
    "instruction,output",
    ...CAPITALS.slice(half - 2).map(([country, capital]) => `What is the capital of ${country}?,The capital of ${country} is ${capital}.`),
  ].join("\n");

  const uploads = [
    { client: owner, id: await owner.upload(datanet.id, "capitals-part-1.jsonl", "application/x-ndjson", Buffer.from(jsonl)) },
    { client: contributor, id: await contributor.upload(datanet.id, "capitals-part-2.csv", "text/csv", Buffer.from(csv)) },
  ];
  for (const { client, id } of uploads) {
    const result = await client.waitForUpload(datanet.id, id);
    console.log(`    upload ${id}: ${result.status}, ${result.accepted} accepted, ${result.rejected} rejected`);
  }
  const version = await owner.request<{ version: number; root: string; records: number; tokens: number }>(
    "POST",
    `/v1/datanets/${datanet.id}/versions`,
  );
  console.log(`    version ${version.version}: ${version.records} records, ${version.tokens} tokens, root ${version.root}`);
  await platform.idle(); // chain sync publishes the version on the local chain
  const published = await owner.request<{ chain: { status: string; txHash: string | null; blockNumber: number | null } }>(
    "GET",
    `/v1/datanets/${datanet.id}/versions/${version.version}`,
  );
  console.log(`    on chain: ${published.chain.status}, tx ${published.chain.txHash}, block ${published.chain.blockNumber}`);

  // A fine-tune of the committed base model on the demo Datanet with the API's default
  // settings, which scale to the data (core/jobs/recipe.ts): enough passes that the adapter
  // answers the demo's question as its record does.
  console.log("    fine-tuning mf-tiny-sotu on it with the default settings (a few minutes on one CPU core)…");
  const job = await owner.request<{ id: string }>("POST", "/v1/jobs", { datanets: [{ id: datanet.id, version: version.version }] });
  const finished = await waitForJob(owner, job.id);
  let adapterId: string | undefined;
  let settled: Promise<void> | undefined;
  if (finished.status === "SUCCEEDED" && finished.metrics) {
    adapterId = finished.adapterId ?? undefined;
    const m = finished.metrics;
    console.log(`    job ${job.id}: SUCCEEDED, held-out loss ${m.evalLoss?.toFixed(3)} vs base model ${m.baseEvalLoss?.toFixed(3)}`);
    await platform.idle(); // chain sync registers the adapter
    const adapter = await owner.request<{ fingerprint: string; chain: { status: string; txHash: string | null } }>("GET", `/v1/adapters/${adapterId}`);
    console.log(`    adapter ${adapterId}: fingerprint ${adapter.fingerprint}, on chain: ${adapter.chain.status}, tx ${adapter.chain.txHash}`);
    if (adapterId) {
      await askAdapter(platform, owner.apiKey!, adapterId);
      // Pay-per-call: price the adapter, pay a few calls through the paying client; earnings print once settled.
      const paid = await payForDemoCalls(platform, dataDir, owner, adapterId, [
        { label: "owner", address: ownerWallet.address, client: owner },
        { label: "contributor", address: contributorWallet.address, client: contributor },
      ]);
      settled = paid.settled;
    }
  } else {
    console.log(`    job ${job.id}: ${finished.status}${finished.error ? ` (${finished.error})` : ""}`);
  }

  const state: DemoState = {
    datanetId: datanet.id,
    version: version.version,
    root: version.root,
    jobId: job.id,
    ...(adapterId ? { adapterId } : {}),
    owner: { address: ownerWallet.address, privateKey: ownerWallet.privateKey, apiKey: owner.apiKey! },
    contributor: { address: contributorWallet.address, privateKey: contributorWallet.privateKey, apiKey: contributor.apiKey! },
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  print(platform, state, true);
  // The demo's epoch settles a minute or so later; the platform is usable meanwhile.
  if (settled) console.log("  The demo's paid calls settle at the end of their epoch (up to ~80 s); their earnings print here then.\n");
  void settled?.catch((error: unknown) => console.error("  The demo's settlement could not be followed:", error));
}

/** Asked of the demo adapter at the end; its record ("The capital of France is Paris.") is in the training split, not held out. */
export const DEMO_QUESTION = "What is the capital of France?";
export const DEMO_ANSWER = "The capital of France is Paris.";

/** The demo's last step: the new adapter answers a question through OpenLoRA's /v1/chat/completions. */
async function askAdapter(platform: Platform, apiKey: string, adapterId: string): Promise<void> {
  if (!platform.inference) return;
  await platform.inference.ready();
  const openai = new OpenAI({ baseURL: `${platform.url}/v1`, apiKey, maxRetries: 2 });
  const reply = await openai.chat.completions.create({ model: adapterId, messages: [{ role: "user", content: DEMO_QUESTION }], max_tokens: 32, temperature: 0 });
  console.log(`    asked ${adapterId} through /v1/chat/completions: "${DEMO_QUESTION}"`);
  const answer = reply.choices[0]?.message.content?.trim();
  console.log(`    it answered: "${answer}" (${reply.usage?.completion_tokens} tokens, finish ${reply.choices[0]?.finish_reason}; ${answer === DEMO_ANSWER ? "as its training record says" : `its training record says "${DEMO_ANSWER}"`})`);
}

interface JobView {
  status: string;
  error: string | null;
  adapterId: string | null;
  progress: { step: number; totalSteps: number } | null;
  metrics: { evalLoss: number | null; baseEvalLoss: number | null } | null;
}

/** Polls a job to its end, drawing a progress bar on a terminal. */
async function waitForJob(client: DevClient, jobId: string): Promise<JobView> {
  for (;;) {
    const job = await client.request<JobView>("GET", `/v1/jobs/${jobId}`);
    if (process.stdout.isTTY && job.progress) {
      const { step, totalSteps } = job.progress;
      const filled = Math.round((20 * step) / Math.max(totalSteps, 1));
      process.stdout.write(`\r    [${"█".repeat(filled)}${"░".repeat(20 - filled)}] step ${step}/${totalSteps} ${job.status}   `);
    }
    if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.status)) {
      if (process.stdout.isTTY) process.stdout.write("\n");
      return job;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function print(platform: Platform, state: DemoState, fresh: boolean): void {
  const base = `${platform.url}/v1/datanets/${state.datanetId}`;
  console.log(`
  Demo ${fresh ? "seeded" : "already seeded"} (wallets and API keys in demo.json in the data directory):
    Datanet     ${state.datanetId}, version ${state.version}, root ${state.root}
    Owner       ${state.owner.address}
    Contributor ${state.contributor.address}
  Try:
    curl -H "Authorization: Bearer ${state.owner.apiKey}" "${base}/contributions?status=rejected"
    curl -H "Authorization: Bearer ${state.owner.apiKey}" "${base}/versions/${state.version}"${
      state.jobId
        ? `
    curl -H "Authorization: Bearer ${state.owner.apiKey}" "${platform.url}/v1/jobs/${state.jobId}"`
        : ""
    }${
      state.adapterId
        ? `
    curl -H "Authorization: Bearer ${state.owner.apiKey}" "${platform.url}/v1/adapters/${state.adapterId}"
    npm run client -- chat --dev-account 2 --url ${platform.url}${platform.chain.rpcUrl ? ` --rpc ${platform.chain.rpcUrl}` : ""} --model ${state.adapterId} "${DEMO_QUESTION}"
      (the adapter is priced: the client opens a channel, signs a voucher per call and prints what it paid;
       the same call with curl and no payment answers 402 with the x402 quote in PAYMENT-REQUIRED)`
        : ""
    }
`);
}
