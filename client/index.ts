// The paying client's public face: a fetch that pays per call (and an `openai` client over it), where it
// keeps its channels, and the payer's side of PaymentEscrow.
export { PayingClient, PaymentError, NO_API_KEY, type PayingClientOptions, type PaymentTerms, type Receipt } from "./paying-client.ts";
export { FileChannelStore, MemoryChannelStore, activeChannel, StoredChannel, type ChannelStore } from "./channel-store.ts";
export { EscrowClient, type OnChainChannel } from "./escrow.ts";
