import type { ApiError } from "../../api-error.ts";
import { replace } from "../../dom.ts";
import { boundsMessage, fieldAt } from "../../jobs/hyper-parameters.ts";

/** Where one field's message goes: its error line, the control to mark invalid and focus, the disclosure to open. */
export interface ErrorSlot {
  error: HTMLElement;
  control?: HTMLElement;
  details?: HTMLDetailsElement;
}

/** The form's error slots by API issue path ("training.maxSteps", "datanets.0", …). */
export interface FieldErrors {
  set(path: string, slot: ErrorSlot): void;
  /** Drops the slots whose path matches, e.g. the rows of a list that is redrawn. */
  drop(pattern: RegExp): void;
  clear(): void;
  /** Puts each message beside its field (the longest registered prefix of its path); focuses the first. */
  show(entries: [path: string, message: string][]): void;
  /** The API's issues, in the form's words where a field's bounds explain them. */
  showApiError(err: ApiError): void;
}

/** zod's bound and type messages: "Too big: …", "Too small: …", "Invalid input: expected number, received string". */
const VALIDATOR_WORDING = /^(too (big|small)|invalid (input|type)|expected )/i;

export function fieldErrors(): FieldErrors {
  const slots = new Map<string, ErrorSlot>();
  const errors: FieldErrors = {
    set: (path, slot) => void slots.set(path, slot),
    drop(pattern) {
      for (const key of [...slots.keys()]) if (pattern.test(key)) slots.delete(key);
    },
    clear() {
      for (const slot of slots.values()) {
        replace(slot.error);
        slot.control?.removeAttribute("aria-invalid");
      }
    },
    show(entries) {
      let first: HTMLElement | undefined;
      for (const [path, message] of entries) {
        const parts = path.split(".");
        let slot: ErrorSlot | undefined;
        for (let n = parts.length; n > 0 && !slot; n--) slot = slots.get(parts.slice(0, n).join("."));
        if (!slot) continue;
        replace(slot.error, slot.error.textContent ? `${slot.error.textContent}; ${message}` : message);
        slot.control?.setAttribute("aria-invalid", "true");
        if (slot.details) slot.details.open = true;
        first ??= slot.control ?? slot.error;
      }
      first?.focus();
    },
    showApiError(err) {
      const entries = Object.entries(err.fields).map(([path, message]): [string, string] => {
        // A validator's wording ("Too big: expected number to be <=256") reads badly in a form; the field's own bounds say it better.
        // Other messages (a rule between two fields, say) are the API's own sentences and stay.
        const field = fieldAt(path);
        return [path, field && VALIDATOR_WORDING.test(message) ? boundsMessage(field) : message];
      });
      // Errors about a Datanet version (404/409) name no field: they belong to the data.
      if (entries.length === 0 && /datanet|records/.test(err.code)) entries.push(["datanets", err.detail ?? err.title]);
      if (entries.length === 0 && err.code === "unknown-base-model") entries.push(["baseModel", err.detail ?? err.title]);
      errors.show(entries);
    },
  };
  return errors;
}
