import { getAddress, keccak256, toUtf8Bytes, type TypedDataDomain, type TypedDataField } from "ethers";
import type { TypedDataSigner } from "./voucher.ts";

/**
 * EIP-712 attestations by the platform's registrar, for owners who submit
 * their own Datanet creation or adapter registration (and pay its gas):
 * DatanetRegistry.createDatanetWithSignature and
 * AdapterRegistry.registerWithSignature accept them. The registrar signs only
 * what it knows to be true off chain (who owns the Datanet, who trained the
 * adapter), so a copied transaction can only register the same owner.
 */

export const DATANET_ATTESTATION_TYPES: Record<string, TypedDataField[]> = {
  DatanetAttestation: [
    { name: "id", type: "bytes32" },
    { name: "owner", type: "address" },
    { name: "metadataURIHash", type: "bytes32" },
    { name: "deadline", type: "uint256" },
  ],
};

export const REGISTRATION_ATTESTATION_TYPES: Record<string, TypedDataField[]> = {
  RegistrationAttestation: [
    { name: "fingerprint", type: "bytes32" },
    { name: "owner", type: "address" },
    { name: "pricePerCall", type: "uint96" },
    { name: "pricePerThousandOutputTokens", type: "uint96" },
    { name: "uriHash", type: "bytes32" },
    { name: "deadline", type: "uint256" },
  ],
};

/** The EIP-712 domain of a registry (`"DatanetRegistry"` or `"AdapterRegistry"`) at `address` on chain `chainId`. */
export function registryDomain(name: "DatanetRegistry" | "AdapterRegistry", chainId: number | bigint, address: string): TypedDataDomain {
  return { name, version: "1", chainId, verifyingContract: getAddress(address) };
}

/** Signs the creation of Datanet `id` (its chain key) for `owner` until `deadline` (unix seconds). */
export function signDatanetAttestation(
  registrar: TypedDataSigner,
  domain: TypedDataDomain,
  a: { id: string; owner: string; metadataURI: string; deadline: number | bigint },
): Promise<string> {
  return registrar.signTypedData(domain, DATANET_ATTESTATION_TYPES, {
    id: a.id,
    owner: getAddress(a.owner),
    metadataURIHash: keccak256(toUtf8Bytes(a.metadataURI)),
    deadline: a.deadline,
  });
}

/** Signs the registration of the adapter with `fingerprint` for `owner`, its prices and URI, until `deadline`. */
export function signRegistrationAttestation(
  registrar: TypedDataSigner,
  domain: TypedDataDomain,
  a: { fingerprint: string; owner: string; pricePerCall: bigint; pricePerThousandOutputTokens: bigint; uri: string; deadline: number | bigint },
): Promise<string> {
  return registrar.signTypedData(domain, REGISTRATION_ATTESTATION_TYPES, {
    fingerprint: a.fingerprint,
    owner: getAddress(a.owner),
    pricePerCall: a.pricePerCall,
    pricePerThousandOutputTokens: a.pricePerThousandOutputTokens,
    uriHash: keccak256(toUtf8Bytes(a.uri)),
    deadline: a.deadline,
  });
}
