import type { Duration, RemovalPolicy } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import type { IGrantable } from "aws-cdk-lib/aws-iam";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import { Construct, type IConstruct } from "constructs";
import type { FunctionEnvironment } from "./app-function.ts";
import { JobPipeline, JobQueues } from "./job-pipeline.ts";
import type { PlatformNetwork } from "./network.ts";
import { type TrainerBackend, TrainingCompute } from "./training-compute.ts";

export { BATCH_STATE_TIMEOUT, JOB_EVENTS_TIMEOUT, JOB_SWEEP_TIMEOUT, START_JOB_TIMEOUT, SWEEP_RATE } from "./job-pipeline.ts";
export { BASE_MODELS_PREFIX, DATANET_VERSIONS_PREFIX, JOBS_PREFIX } from "./training-compute.ts";

export interface TrainingProps {
  /** The shared network (infra/lib/network.ts): the trainers run in its isolated subnets. */
  network: PlatformNetwork;
  /** The data bucket: base models, Datanet versions and job files. */
  bucket: Bucket;
  mainTable: Table;
  /** The functions' common environment (BUCKET included). */
  environment: FunctionEnvironment;
  removalPolicy: RemovalPolicy;
  /** The trainer's engine, and so CPU or GPU instances (default `embedded`: CPU). */
  backend?: TrainerBackend;
  /** The trainer image pinned by digest (see TrainingCompute). */
  trainerImage?: string;
  maxvCpus?: number;
  attemptTimeout?: Duration;
}

/**
 * Fine-tuning on AWS: the job queues, the compute the trainer runs on
 * (TrainingCompute) and the functions that drive each job (JobPipeline).
 */
export class Training extends Construct {
  readonly queues: JobQueues;
  readonly compute: TrainingCompute;
  readonly pipeline: JobPipeline;

  constructor(scope: Construct, id: string, props: TrainingProps) {
    super(scope, id);
    this.queues = new JobQueues(this, "Queues");
    this.compute = new TrainingCompute(this, "Compute", {
      network: props.network,
      bucket: props.bucket,
      jobEventsQueue: this.queues.jobEvents,
      removalPolicy: props.removalPolicy,
      ...(props.backend ? { backend: props.backend } : {}),
      ...(props.trainerImage ? { trainerImage: props.trainerImage } : {}),
      ...(props.maxvCpus !== undefined ? { maxvCpus: props.maxvCpus } : {}),
      ...(props.attemptTimeout ? { attemptTimeout: props.attemptTimeout } : {}),
    });
    this.pipeline = new JobPipeline(this, "Pipeline", {
      queues: this.queues,
      compute: this.compute,
      bucket: props.bucket,
      mainTable: props.mainTable,
      environment: props.environment,
      removalPolicy: props.removalPolicy,
    });
  }

  /** What a function that creates or cancels jobs needs in its environment. */
  get jobEnvironment(): JobPipeline["jobEnvironment"] {
    return this.pipeline.jobEnvironment;
  }

  grantJobControl(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    this.pipeline.grantJobControl(grantee, bucket);
  }

  grantAdapterDownloads(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    this.pipeline.grantAdapterDownloads(grantee, bucket);
  }
}
