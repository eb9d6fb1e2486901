import { Logger } from "@aws-lambda-powertools/logger";

/** The functions' structured logger (JSON lines; level from POWERTOOLS_LOG_LEVEL). */
export const logger = new Logger({ serviceName: "model-factory" });

/** What every handler factory accepts besides its deps. */
export interface HandlerOptions {
  /** Defaults to the shared logger; tests pass a silent one. */
  logger?: Logger;
}
