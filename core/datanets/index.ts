/** The Datanet domain's use cases and shapes. */
export { createDatanet, getDatanet, searchDatanets, type SearchDatanetsInput } from "./datanets.ts";
export { createUpload, getUpload, type CreatedUpload } from "./uploads.ts";
export { listContributions, type ListContributionsInput } from "./contributions.ts";
export { getProof, getVersion, publishVersion } from "./versions.ts";
export * from "./model.ts";
