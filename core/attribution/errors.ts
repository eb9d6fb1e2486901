/** Base of the attribution errors: `name` says which, fields carry the data. */
export class AttributionError extends Error {
  override name = "AttributionError";
}

/**
 * An index or sketch file that cannot be trusted (wrong shape, not sorted, out-of-range ids).
 * Serving never fails on it: the call falls back to the static weights and the reason is logged.
 */
export class AttributionIndexError extends AttributionError {
  override name = "AttributionIndexError";
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}
