import { z } from "zod";
import { AddressSchema } from "../account.ts";

/**
 * The Datanet domain's public shapes. The API documents these in its OpenAPI
 * document (the `id` in `.meta` names the component), and the use cases in
 * this folder return them; one definition serves both.
 */

export const DatanetSchemaKind = z.enum(["text", "instruction", "chat"]).meta({ id: "DatanetSchemaKind" });
export type DatanetSchemaKind = z.infer<typeof DatanetSchemaKind>;

export const Visibility = z.enum(["public", "private"]);

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");
export const Bytes32Hex = z.string().regex(/^0x[0-9a-f]{64}$/, "must be 0x and 64 lower-case hex digits");

export const CreateDatanetInput = z
  .strictObject({
    name: z.string().trim().min(3).max(100),
    description: z.string().trim().max(5000).default(""),
    /** SPDX license identifier, e.g. "CC-BY-4.0". */
    license: z.string().min(1).max(64),
    schema: DatanetSchemaKind,
    visibility: Visibility.default("public"),
    tags: z.array(z.string().trim().toLowerCase().regex(/^[a-z0-9][a-z0-9-]{0,31}$/)).max(20).default([]),
  })
  .meta({ id: "CreateDatanetInput" });
export type CreateDatanetInput = z.infer<typeof CreateDatanetInput>;

export const Datanet = z
  .object({
    id: z.string(),
    owner: AddressSchema,
    name: z.string(),
    description: z.string(),
    license: z.string(),
    schema: DatanetSchemaKind,
    visibility: Visibility,
    tags: z.array(z.string()),
    createdAt: z.string(),
    /** Number of published versions; the latest is `versions`. */
    versions: z.number().int(),
  })
  .meta({ id: "Datanet" });
export type Datanet = z.infer<typeof Datanet>;

export const CreateUploadInput = z
  .strictObject({
    filename: z.string().min(1).max(255),
    contentType: z.string().min(1).max(255),
    size: z.number().int().positive(),
    sha256: Sha256Hex,
  })
  .meta({ id: "CreateUploadInput" });
export type CreateUploadInput = z.infer<typeof CreateUploadInput>;

export const UploadStatus = z.enum(["pending", "processing", "done", "failed"]);
export type UploadStatus = z.infer<typeof UploadStatus>;

export const PresignedUploadSchema = z
  .object({
    uploadId: z.string(),
    method: z.literal("PUT"),
    url: z.string(),
    headers: z.record(z.string(), z.string()),
    expiresAt: z.string(),
  })
  .meta({ id: "PresignedUpload" });

export const Upload = z
  .object({
    uploadId: z.string(),
    datanetId: z.string(),
    contributor: AddressSchema,
    filename: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    sha256: Sha256Hex,
    status: UploadStatus,
    accepted: z.number().int(),
    rejected: z.number().int(),
    /** Why the whole upload failed (status "failed"), e.g. a body that did not match its sha256. */
    error: z.string().optional(),
    createdAt: z.string(),
    completedAt: z.string().optional(),
  })
  .meta({ id: "Upload" });
export type Upload = z.infer<typeof Upload>;

export const ContributionStatus = z.enum(["accepted", "rejected"]);
export type ContributionStatus = z.infer<typeof ContributionStatus>;

export const Contribution = z
  .object({
    id: z.string(),
    contributor: AddressSchema,
    /** 0x-prefixed SHA-256 of the normalised record's canonical JSON (bytes32 on chain). */
    contentHash: Bytes32Hex.nullable(),
    tokens: z.number().int(),
    license: z.string(),
    status: ContributionStatus,
    /** Why the record was rejected; null when accepted. */
    reason: z.string().nullable(),
    /** 1-based line (JSONL, text) or record row (CSV) in the uploaded file. */
    line: z.number().int(),
    uploadId: z.string(),
  })
  .meta({ id: "Contribution" });
export type Contribution = z.infer<typeof Contribution>;

export const DatanetVersion = z
  .object({
    datanetId: z.string(),
    version: z.number().int().positive(),
    /** StandardMerkleTree root over (contributor, contentHash, tokens). */
    root: Bytes32Hex,
    records: z.number().int(),
    tokens: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: "DatanetVersion" });
export type DatanetVersion = z.infer<typeof DatanetVersion>;

export const LEAF_ENCODING = ["address", "bytes32", "uint256"] as const;

export const Proof = z
  .object({
    root: Bytes32Hex,
    leafEncoding: z.array(z.string()),
    /** [contributor, contentHash, tokens as a decimal string]. */
    leaf: z.tuple([AddressSchema, Bytes32Hex, z.string()]),
    proof: z.array(Bytes32Hex),
  })
  .meta({ id: "Proof" });
export type Proof = z.infer<typeof Proof>;

/** A page of results; `nextCursor` is absent on the last page. */
export interface Paged<T> {
  items: T[];
  nextCursor?: string;
}
