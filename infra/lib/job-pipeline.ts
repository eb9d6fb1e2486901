import { Arn, Duration, type RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct, type IConstruct } from "constructs";
import { adapterKey } from "../../core/adapters/keys.ts";
import { EVENT_PK_PREFIX } from "../../core/events.ts";
import { ACTIVE_JOBS_PK, jobKey } from "../../core/jobs/keys.ts";
import { acknowledgeBucketGrant } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import { secureQueue } from "./secure-queue.ts";
import { grantTableAccess } from "./tables.ts";
import { JOBS_PREFIX, type TrainingCompute } from "./training-compute.ts";

/** Everything the trainers write (adapter files, attribution, metrics, checkpoints): what the API may presign downloads of; not the job specs. */
const ADAPTER_OUTPUT_KEYS = `${JOBS_PREFIX}*/output/*`;

/** Function timeouts; each queue's visibility timeout is six times its consumer's (Lambda's guidance). */
export const START_JOB_TIMEOUT = Duration.seconds(60);
/** Finalize hashes the adapter's weights and checks its files. */
export const JOB_EVENTS_TIMEOUT = Duration.minutes(2);
export const JOB_SWEEP_TIMEOUT = Duration.minutes(2);
export const BATCH_STATE_TIMEOUT = Duration.seconds(30);
/** How often the sweeper looks for jobs without a heartbeat and queued jobs whose message was lost. */
export const SWEEP_RATE = Duration.minutes(5);

/**
 * Main-table partitions the job functions touch (core/jobs/keys.ts): `JOB#{id}` (the job),
 * `JOBS#ACTIVE` (the markers the sweeper walks, written and deleted with the job) and
 * `EVENT#{id}` (the outbox events of each change).
 */
const JOB_PK_PREFIXES = [jobKey("").pk, ACTIVE_JOBS_PK, EVENT_PK_PREFIX];

/**
 * The job pipeline's queues, made before the compute because the trainer
 * sends to the job-events queue: `jobs` (start an attempt) and `job-events`
 * (trainer reports, Batch state changes), each with a dead-letter queue.
 */
export class JobQueues extends Construct {
  readonly jobs: Queue;
  readonly jobsDeadLetters: Queue;
  readonly jobEvents: Queue;
  readonly jobEventsDeadLetters: Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.jobsDeadLetters = secureQueue(this, "JobsDeadLetters");
    this.jobs = secureQueue(this, "JobsQueue", {
      visibilityTimeout: Duration.seconds(START_JOB_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.jobsDeadLetters, maxReceiveCount: 5 },
    });
    this.jobEventsDeadLetters = secureQueue(this, "JobEventsDeadLetters");
    this.jobEvents = secureQueue(this, "JobEventsQueue", {
      visibilityTimeout: Duration.seconds(JOB_EVENTS_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.jobEventsDeadLetters, maxReceiveCount: 5 },
    });
  }
}

export interface JobPipelineProps {
  queues: JobQueues;
  compute: TrainingCompute;
  bucket: Bucket;
  mainTable: Table;
  /** The functions' common environment (BUCKET included). */
  environment: FunctionEnvironment;
  removalPolicy: RemovalPolicy;
}

/**
 * The functions that drive fine-tune jobs:
 *   jobs queue → start-job → Batch SubmitJob;
 *   EventBridge Batch Job State Change → batch-job-state → job-events queue ← trainer;
 *   job-events queue → job-events (state machine, finalize);  every 5 min → job-sweep.
 * Each function gets the DynamoDB actions its use case calls on the job partitions only.
 */
export class JobPipeline extends Construct {
  /** batch-job-state invocations that failed after Lambda's two async retries, and EventBridge deliveries that failed after theirs. */
  readonly stateChangeFailures: Queue;
  readonly startJobFunction: AppFunction;
  readonly jobEventsFunction: AppFunction;
  readonly sweepFunction: AppFunction;
  readonly batchStateFunction: AppFunction;
  readonly stateChangeRule: Rule;
  readonly sweepRule: Rule;
  /** What a function that creates or cancels jobs needs in its environment (see grantJobControl). */
  readonly jobEnvironment: Required<Pick<FunctionEnvironment, "JOBS_QUEUE_URL" | "BATCH_JOB_QUEUE" | "BATCH_JOB_DEFINITION">>;
  readonly #queues: JobQueues;

  constructor(scope: Construct, id: string, props: JobPipelineProps) {
    super(scope, id);
    const { bucket, compute, queues, removalPolicy, mainTable } = props;
    this.#queues = queues;
    this.stateChangeFailures = secureQueue(this, "StateChangeFailures");
    Validations.of(this.stateChangeFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself a dead-letter queue (batch-job-state's on-failure destination and its EventBridge target's DLQ); an alarm on its depth tells the operator (Monitoring).",
    });

    this.jobEnvironment = { JOBS_QUEUE_URL: queues.jobs.queueUrl, BATCH_JOB_QUEUE: compute.jobQueue.jobQueueArn, BATCH_JOB_DEFINITION: compute.jobDefinition.jobDefinitionArn };
    const jobEnvironment: FunctionEnvironment = { ...props.environment, ...this.jobEnvironment };

    this.startJobFunction = new AppFunction(this, "StartJob", {
      entry: "start-job",
      description: "Starts a queued fine-tune job's next attempt on AWS Batch",
      environment: jobEnvironment,
      timeout: START_JOB_TIMEOUT,
      removalPolicy,
    });
    this.startJobFunction.addEventSource(new SqsEventSource(queues.jobs, { batchSize: 5, reportBatchItemFailures: true, maxConcurrency: 5 }));
    // startJobAttempt: read and conditionally write the job (a failed submit may end it: events, marker delete).
    grantTableAccess(mainTable, this.startJobFunction, { calls: ["get", "put", "delete"], pkPrefixes: JOB_PK_PREFIXES });
    bucket.grantPut(this.startJobFunction, `${JOBS_PREFIX}*`); // the attempt's spec
    compute.jobDefinition.grantSubmitJob(this.startJobFunction, compute.jobQueue);
    this.#grantTagAndTerminate(this.startJobFunction, true);
    queues.jobs.grantSendMessages(this.startJobFunction);
    acknowledgeBucketGrant(this.startJobFunction, bucket, ["s3:Abort*"], [JOBS_PREFIX]);

    this.jobEventsFunction = new AppFunction(this, "JobEvents", {
      entry: "job-events",
      description: "Applies trainer and Batch job events to jobs; finalizes adapters",
      environment: jobEnvironment,
      timeout: JOB_EVENTS_TIMEOUT,
      memorySize: 1024,
      removalPolicy,
    });
    this.jobEventsFunction.addEventSource(new SqsEventSource(queues.jobEvents, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 5 }));
    // applyJobEvent: the job, its events, its marker, and on success the adapter record (finalize).
    grantTableAccess(mainTable, this.jobEventsFunction, { calls: ["get", "put", "delete"], pkPrefixes: [...JOB_PK_PREFIXES, adapterKey("").pk] });
    bucket.grantRead(this.jobEventsFunction, `${JOBS_PREFIX}*`); // the trainer's output, for finalize
    queues.jobs.grantSendMessages(this.jobEventsFunction); // retries
    this.#grantTagAndTerminate(this.jobEventsFunction, false);
    acknowledgeBucketGrant(this.jobEventsFunction, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], [JOBS_PREFIX]);

    this.sweepFunction = new AppFunction(this, "JobSweep", {
      entry: "job-sweep",
      description: "Ends job attempts without a heartbeat and re-queues jobs whose start message was lost",
      environment: jobEnvironment,
      timeout: JOB_SWEEP_TIMEOUT,
      removalPolicy,
    });
    // sweepStaleJobs: walks JOBS#ACTIVE (a Query, never a Scan), reads and updates each job, drops stale markers.
    grantTableAccess(mainTable, this.sweepFunction, { calls: ["get", "put", "delete", "query"], pkPrefixes: JOB_PK_PREFIXES });
    queues.jobs.grantSendMessages(this.sweepFunction);
    this.#grantTagAndTerminate(this.sweepFunction, false);
    this.sweepRule = new Rule(this, "JobSweepSchedule", { description: "Runs the job sweeper", schedule: Schedule.rate(SWEEP_RATE) });
    // A failed sweep is not retried: the next one runs within SWEEP_RATE, and the errors alarm tells.
    this.sweepRule.addTarget(new LambdaFunction(this.sweepFunction, { retryAttempts: 2 }));
    this.sweepFunction.configureAsyncInvoke({ retryAttempts: 0 });

    // Batch's state changes of this queue's jobs that ended → exited events on the job-events queue.
    this.batchStateFunction = new AppFunction(this, "BatchJobState", {
      entry: "batch-job-state",
      description: "Turns Batch Job State Change events of trainer jobs into job events",
      environment: { ...props.environment, JOB_EVENTS_QUEUE_URL: queues.jobEvents.queueUrl },
      timeout: BATCH_STATE_TIMEOUT,
      memorySize: 256,
      removalPolicy,
      // EventBridge invokes asynchronously: a function error is retried twice by Lambda, then the
      // event lands here instead of being dropped.
      onFailure: new SqsDestination(this.stateChangeFailures),
    });
    queues.jobEvents.grantSendMessages(this.batchStateFunction);
    this.stateChangeRule = new Rule(this, "BatchJobStateChange", {
      description: "Trainer jobs that ended (SUCCEEDED or FAILED) on the trainer job queue",
      eventPattern: {
        source: ["aws.batch"],
        detailType: ["Batch Job State Change"],
        detail: { jobQueue: [compute.jobQueue.jobQueueArn], status: ["SUCCEEDED", "FAILED"] },
      },
    });
    // EventBridge's own retries cover failed deliveries (throttles, a missing function); what still fails goes to the same queue.
    this.stateChangeRule.addTarget(
      new LambdaFunction(this.batchStateFunction, { retryAttempts: 8, maxEventAge: Duration.hours(24), deadLetterQueue: this.stateChangeFailures }),
    );
  }

  /**
   * Lets a function create and cancel jobs (the API): write specs under `jobs/`, send to the
   * jobs queue, terminate trainer runs. Pair with `jobEnvironment` in its environment.
   */
  grantJobControl(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    this.#queues.jobs.grantSendMessages(grantee);
    bucket.grantPut(grantee, `${JOBS_PREFIX}*`);
    this.#grantTagAndTerminate(grantee, false);
    acknowledgeBucketGrant(grantee, bucket, ["s3:Abort*"], [JOBS_PREFIX]);
  }

  /**
   * Lets a function presign downloads of adapters (the API): a presigned GET
   * carries the signer's rights, so it may read the trainers' output only.
   */
  grantAdapterDownloads(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    bucket.grantRead(grantee, ADAPTER_OUTPUT_KEYS);
    acknowledgeBucketGrant(grantee, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], [ADAPTER_OUTPUT_KEYS.slice(0, -1)]);
  }

  /** TerminateJob (and TagResource, for SubmitJob's tags) on this account's Batch jobs: their ids are only known at run time. */
  #grantTagAndTerminate(grantee: IGrantable & IConstruct, tag: boolean): void {
    const jobs = Arn.format({ service: "batch", resource: "job", resourceName: "*" }, Stack.of(this));
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: tag ? ["batch:TerminateJob", "batch:TagResource"] : ["batch:TerminateJob"], resources: [jobs] }));
    // on the role that holds the policy (a function's role is its sibling, not its child)
    const holder = Construct.isConstruct(grantee.grantPrincipal) ? grantee.grantPrincipal : grantee;
    // cdk-nag names the resource as synthesised: pseudo-parameters when the stack's env is unresolved, literals when set.
    const stack = Stack.of(this);
    const region = Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region;
    const account = Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account;
    Validations.of(holder).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:${region}:${account}:job/*]`,
      reason: "Batch job ids are assigned at SubmitJob; cancelling (and tagging at submit) needs the account's job ARNs. Jobs only run on this construct's queue.",
    });
  }
}
