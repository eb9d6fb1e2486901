import { z } from "zod";

/** An account is an Ethereum address, kept in EIP-55 checksum form. */
export const AddressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address")
  .meta({ id: "Address", example: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" });
export type Address = z.infer<typeof AddressSchema>;

/** The caller of a use case: the signed-in account. */
export interface Caller {
  address: Address;
}
