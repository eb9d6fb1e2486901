import type { MiddlewareObj } from "@middy/core";
import type { z } from "zod";

/** The invocation's event is not of the shape this function is wired to. */
export class InvalidEventError extends Error {
  readonly issues: z.core.$ZodIssue[];
  constructor(what: string, issues: z.core.$ZodIssue[]) {
    super(`Invalid ${what} event: ${issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
    this.name = "InvalidEventError";
    this.issues = issues;
  }
}

/**
 * Checks the event envelope against a zod schema before the handler runs. A
 * wrongly wired trigger fails the whole invocation loudly instead of being
 * reported record by record.
 */
export function parseEvent<TEvent>(what: string, schema: z.ZodType): MiddlewareObj<TEvent> {
  return {
    before: (request) => {
      const result = schema.safeParse(request.event);
      if (!result.success) throw new InvalidEventError(what, result.error.issues);
    },
  };
}
