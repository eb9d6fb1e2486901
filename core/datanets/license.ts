import deprecatedIds from "spdx-license-ids/deprecated.json" with { type: "json" };
import licenseIds from "spdx-license-ids/index.json" with { type: "json" };

const byLowerCase = new Map<string, string>([...licenseIds, ...deprecatedIds].map((id) => [id.toLowerCase(), id]));

/**
 * The canonical spelling of an SPDX license identifier (matched without
 * regard to case, as SPDX specifies), a `LicenseRef-…` reference as given,
 * or undefined when it is neither.
 */
export function canonicalLicense(id: string): string | undefined {
  const trimmed = id.trim();
  if (/^LicenseRef-[A-Za-z0-9.-]+$/.test(trimmed)) return trimmed;
  return byLowerCase.get(trimmed.toLowerCase());
}
