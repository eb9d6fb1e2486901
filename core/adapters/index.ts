export { Adapter, AdapterView } from "./model.ts";
export { adapterKey, ADAPTERS_GSI_PK } from "./keys.ts";
export { adapterItem, adapterFromItem, adapterToRegister, getAdapter, listAdapters, loadAdapter, loadReadableAdapter, type ListAdaptersInput } from "./adapters.ts";
export { ADAPTER_DOWNLOAD_TTL_SECONDS, ADAPTER_FILE_NAMES, ADAPTER_FILES, presignAdapterFile, type AdapterFileName } from "./files.ts";
export { canReadAdapter, promptTemplateOf } from "./access.ts";
