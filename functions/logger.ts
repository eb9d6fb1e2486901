import { Logger } from "@aws-lambda-powertools/logger";
import { Tracer } from "@aws-lambda-powertools/tracer";

/** The service name when POWERTOOLS_SERVICE_NAME is unset (tests, the local runtime). */
export const DEFAULT_SERVICE_NAME = "model-factory";

/**
 * The function's service name: POWERTOOLS_SERVICE_NAME, which the stack sets to
 * each function's entry (infra/lib/app-function.ts), so logs and traces say
 * which function wrote them. A name passed to Logger's constructor would win
 * over the variable, so the constructor is given the variable's value.
 */
export function serviceName(env: Record<string, string | undefined> = process.env): string {
  return env.POWERTOOLS_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME;
}

/** The functions' structured logger (JSON lines; level from POWERTOOLS_LOG_LEVEL). */
export const logger = new Logger({ serviceName: serviceName() });

/** The functions' X-Ray tracer; it does nothing outside Lambda (tests, local). */
export const tracer = new Tracer({ serviceName: serviceName() });

/** What every handler factory accepts besides its deps. */
export interface HandlerOptions {
  /** Defaults to the shared logger; tests pass a silent one. */
  logger?: Logger;
  /** Defaults to the shared tracer. */
  tracer?: Tracer;
}
