import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BASE_MODEL_DIR } from "../containers/engine/index.ts";
import type { CoreDeps } from "../core/deps.ts";
import { BASE_MODEL_FILES, listBaseModels } from "../core/jobs/base-models.ts";

/**
 * Copies the committed base model's files into the blob store where they are
 * missing, so trainers can fetch them (the local runtime calls this at start;
 * on AWS the stack deploys the same files to the bucket). Returns the keys it wrote.
 */
export async function ensureBaseModelsInBlobStore(deps: Pick<CoreDeps, "blobs">, sourceDir: string = BASE_MODEL_DIR): Promise<string[]> {
  const written: string[] = [];
  const present = new Set(await readdir(sourceDir));
  for (const model of listBaseModels()) {
    for (const file of BASE_MODEL_FILES) {
      if (!present.has(file)) continue;
      const key = `${model.prefix}${file}`;
      if (await deps.blobs.head(key)) continue;
      const contentType = file.endsWith(".json") ? "application/json" : file.endsWith(".md") ? "text/markdown" : "application/octet-stream";
      await deps.blobs.put(key, await readFile(join(sourceDir, file)), { contentType });
      written.push(key);
    }
  }
  return written;
}
