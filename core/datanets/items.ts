import type { Item } from "../ports/tables.ts";
import type { Contribution, Datanet, DatanetVersion, Upload } from "./model.ts";

/** Table items → public shapes: the key and index attributes stay inside. */

export function datanetFromItem(item: Item): Datanet {
  return {
    id: item.id as string,
    owner: item.owner as string,
    name: item.name as string,
    description: item.description as string,
    license: item.license as string,
    schema: item.schema as Datanet["schema"],
    visibility: item.visibility as Datanet["visibility"],
    tags: item.tags as string[],
    createdAt: item.createdAt as string,
    versions: item.versions as number,
  };
}

export function uploadFromItem(item: Item): Upload {
  return {
    uploadId: item.uploadId as string,
    datanetId: item.datanetId as string,
    contributor: item.contributor as string,
    filename: item.filename as string,
    contentType: item.contentType as string,
    size: item.size as number,
    sha256: item.sha256 as string,
    status: item.status as Upload["status"],
    accepted: item.accepted as number,
    rejected: item.rejected as number,
    ...(typeof item.error === "string" ? { error: item.error } : {}),
    createdAt: item.createdAt as string,
    ...(typeof item.completedAt === "string" ? { completedAt: item.completedAt } : {}),
  };
}

export function contributionFromItem(item: Item): Contribution {
  return {
    id: item.id as string,
    contributor: item.contributor as string,
    contentHash: (item.contentHash as string | undefined) ?? null,
    tokens: item.tokens as number,
    license: item.license as string,
    status: item.status as Contribution["status"],
    reason: (item.reason as string | undefined) ?? null,
    line: item.line as number,
    uploadId: item.uploadId as string,
  };
}

export function versionFromItem(item: Item): DatanetVersion {
  return {
    datanetId: item.datanetId as string,
    version: item.version as number,
    root: item.root as string,
    records: item.records as number,
    tokens: item.tokens as number,
    createdAt: item.createdAt as string,
  };
}
