// Moving files between the blob store and the trainer's local work directory.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { BlobStore } from "../../core/ports/blob-store.ts";
import { BASE_MODEL_DIR } from "../engine/index.ts";

/** The whole object as bytes, or undefined when there is none. */
export async function readBlob(blobs: BlobStore, key: string): Promise<Buffer | undefined> {
  const stream = await blobs.get(key);
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Streams an object to a file; false when there is no such object. */
export async function downloadBlob(blobs: BlobStore, key: string, path: string): Promise<boolean> {
  const stream = await blobs.get(key);
  if (!stream) return false;
  await pipeline(stream, createWriteStream(path));
  return true;
}

/** 0x + lower-case hex SHA-256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return `0x${hash.digest("hex")}`;
}

/**
 * A base model's files (those directly under `prefix`) in `cacheRoot/{sha256}`, downloaded once
 * and checked against the sha256 of its model.safetensors. Downloads land in a temporary
 * directory renamed into place, so a killed download never leaves a half model in the cache.
 */
export async function cachedModelDir(blobs: BlobStore, prefix: string, sha256: string, cacheRoot: string): Promise<string> {
  const dir = join(cacheRoot, sha256.replace(/^0x/, ""));
  if ((await readdir(dir).catch((): string[] => [])).includes("model.safetensors")) return dir;
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const keys = (await blobs.list(base)).filter((k) => !k.slice(base.length).includes("/"));
  if (!keys.includes(`${base}model.safetensors`)) throw new ModelFilesError(`base model ${base}: no model.safetensors in the blob store`);
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    for (const key of keys) await downloadBlob(blobs, key, join(tmp, key.slice(base.length)));
    const actual = await sha256File(join(tmp, "model.safetensors"));
    if (actual !== sha256) throw new ModelFilesError(`base model ${base}: model.safetensors has sha256 ${actual}, the job expects ${sha256}`);
    await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      // another trainer cached it first
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The engine's committed base model, when it is the one the job names (by the sha256 of its
 * weights): the trainer image carries it, so a deployment need not copy it to the blob store.
 */
export async function bundledModelDir(sha256: string, dir: string = BASE_MODEL_DIR): Promise<string | undefined> {
  const weights = join(dir, "model.safetensors");
  return (await sha256File(weights).catch(() => undefined)) === sha256 ? dir : undefined;
}

/** The base model's files are missing or not the ones the job names. */
export class ModelFilesError extends Error {
  override name = "ModelFilesError";
}
