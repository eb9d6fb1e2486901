export { Adapter, AdapterView } from "./model.ts";
export { adapterKey, ADAPTERS_GSI_PK } from "./keys.ts";
export { adapterItem, adapterFromItem, adapterToRegister, getAdapter, listAdapters, loadAdapter, type ListAdaptersInput } from "./adapters.ts";
