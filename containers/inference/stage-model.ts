// `node containers/inference/stage-model.ts`: copies a base model's files (Hugging Face layout)
// from the bucket to a local directory, so vLLM in the same task can load them with no route
// to the internet. The ECS task runs it as an init container before vLLM starts.
//   BUCKET, MODEL_PREFIX (e.g. base-models/mf-tiny-sotu/), MODEL_DIR (e.g. /models/base)
import { createWriteStream } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { BlobStore } from "../../core/ports/blob-store.ts";

/** Copies every object under `prefix` into `dir` (flat), each through a temp file and a rename. */
export async function stageModel(blobs: Pick<BlobStore, "list" | "get">, prefix: string, dir: string): Promise<string[]> {
  const keys = (await blobs.list(prefix)).filter((k) => !k.slice(prefix.length).includes("/"));
  if (keys.length === 0) throw new Error(`no model files under ${prefix}`);
  await mkdir(dir, { recursive: true });
  for (const key of keys) {
    const body = await blobs.get(key);
    if (!body) throw new Error(`${key} disappeared while staging`);
    const target = join(dir, basename(key));
    await pipeline(body, createWriteStream(`${target}.tmp`));
    await rename(`${target}.tmp`, target);
  }
  return keys;
}

if (import.meta.main) {
  const { BUCKET, MODEL_PREFIX, MODEL_DIR } = process.env;
  if (!BUCKET || !MODEL_PREFIX || !MODEL_DIR) {
    console.error("BUCKET, MODEL_PREFIX and MODEL_DIR are required");
    process.exit(2);
  }
  const [{ S3Client }, { S3BlobStore }] = await Promise.all([import("@aws-sdk/client-s3"), import("../../adapters/aws/s3-blob-store.ts")]);
  const keys = await stageModel(new S3BlobStore(new S3Client({}), BUCKET), MODEL_PREFIX, MODEL_DIR);
  console.log(JSON.stringify({ message: "model staged", files: keys.length, dir: MODEL_DIR }));
}
