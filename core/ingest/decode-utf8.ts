const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one record's bytes as strict UTF-8 (a leading byte-order mark is
 * dropped). Returns undefined for invalid UTF-8, which the caller rejects:
 * silently replacing bytes would change the content that gets hashed.
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

export const INVALID_UTF8 = "invalid UTF-8";
