import type { CoreDeps } from "../deps.ts";
import type { TrainingCompute } from "../ports/training-compute.ts";

/** What the job use cases that start or stop trainer runs need. */
export type JobDeps = CoreDeps & { compute: TrainingCompute };
