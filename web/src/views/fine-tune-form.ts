import type { Job } from "../../../core/jobs/model.ts";
import type { AppContext } from "../app-context.ts";
import { ApiError } from "../api-error.ts";
import { h, replace } from "../dom.ts";
import { NUMBER_FIELDS } from "../jobs/hyper-parameters.ts";
import { estimateRun, scaledDefaults, trainerSeqLen, type EstimateModel } from "../jobs/run-estimate.ts";
import { routeHref } from "../router.ts";
import { errorBox, isAbort, loading } from "./common.ts";
import { baseModelPicker } from "./fine-tune/base-model-picker.ts";
import { fieldErrors } from "./fine-tune/field-errors.ts";
import { jobNameFields } from "./fine-tune/job-name-fields.ts";
import { runEstimatePanel, type TrainingRate } from "./fine-tune/run-estimate-panel.ts";
import { settingsFields } from "./fine-tune/settings-fields.ts";
import { sourcePicker } from "./fine-tune/source-picker.ts";

/**
 * The engine's LoRA training rate with the API's defaults (r=16 on all 7 projections) on the
 * committed base model, on the 2-core machine: `BENCH_QUICK=1 npm run bench:attribution`,
 * 2026-12-02, median 4,368 tokens/s (3,912–4,583) of its 14 step reports. The time estimate's
 * rate until a job on this platform has reported its own.
 */
const BENCHMARK_TOKENS_PER_SECOND = 4_400;

/**
 * The "New fine-tune" page, put together from its widgets: the Datanet
 * versions (the one the person came from preselected, or a finished job's
 * when cloning), a base model, LoRA and training settings with defaults
 * scaled to the data, and an estimate of the run that warns before a job
 * that would learn nothing starts.
 */
export function fineTuneFormView(ctx: AppContext, signal: AbortSignal, preselect: { datanet: string; version: number | undefined; from?: string | undefined }): HTMLElement {
  const errors = fieldErrors();
  const estimate = runEstimatePanel();
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary", "data-testid": "start-fine-tune" }, "Start fine-tune");
  let rate: TrainingRate | undefined = { tokensPerSecond: BENCHMARK_TOKENS_PER_SECOND, source: "the engine's benchmark on a 2-core machine" };

  const settings = settingsFields(errors);
  const sources = sourcePicker(ctx, signal, errors, () => refresh());
  const models = baseModelPicker(ctx, signal, errors, () => {
    settings.setModel(models.selected().model);
    refresh();
  });
  settings.onInput(() => refresh());
  const names = jobNameFields(ctx, signal);

  /** Data totals once every picked version's counts have loaded. */
  function dataSize() {
    const picked = sources.sources();
    if (picked.length === 0 || picked.some((s) => s.info === undefined)) return undefined;
    return { records: picked.reduce((n, s) => n + (s.info?.records ?? 0), 0), tokens: picked.reduce((n, s) => n + (s.info?.tokens ?? 0), 0) };
  }
  // The chosen model's id and context, as createJob passes them to the recipe (its tokenizer cost, its rows).
  const model = (): EstimateModel => {
    const { id, model: info } = models.selected();
    return { id, contextLength: info?.contextLength ?? Number.POSITIVE_INFINITY };
  };

  let scaledFor = "";
  function refresh() {
    const data = dataSize();
    if (!data) return estimate.update(undefined, rate);
    // Defaults follow the data (and max steps, which warmup, evaluations and checkpoints are spaced over) once per change; what the person typed stays.
    const m = model();
    const num = (k: string) => settings.number(k) ?? NUMBER_FIELDS.find((f) => f.key === k)?.default ?? 0;
    const key = `${data.records}/${data.tokens}/${m.id}/${trainerSeqLen(m)}/${settings.number("maxSteps") ?? ""}`;
    if (key !== scaledFor) {
      scaledFor = key;
      const d = scaledDefaults(data, num("evalFraction"), m, settings.number("maxSteps"));
      const why = `Scaled to ${data.records} records.`;
      for (const [k, v] of Object.entries(d)) settings.propose(k, v, why);
    }
    const e = estimateRun(data, {
      epochs: num("epochs"), maxSteps: settings.number("maxSteps"), batchSize: num("batchSize"), gradientAccumulation: num("gradientAccumulation"),
      warmupSteps: num("warmupSteps"), evalFraction: num("evalFraction"), evalEvery: num("evalEvery"),
    }, m, rate?.tokensPerSecond);
    estimate.update(e, rate);
    submit.disabled = e.blocked !== undefined;
  }

  // The platform's own measured rate, when a job on this model has reported one.
  void ctx.api.listJobs({}, signal).then((page) => {
    const rates = page.items.filter((j) => j.baseModel === models.selected().id && (j.progress?.tokensPerSecond ?? 0) > 0).map((j) => j.progress!.tokensPerSecond!).sort((a, b) => a - b);
    if (rates.length > 0) {
      rate = { tokensPerSecond: rates[Math.floor(rates.length / 2)]!, source: `the median of ${rates.length} recent job${rates.length === 1 ? "" : "s"} on this model` };
      refresh();
    }
  }, () => undefined);

  const section = (title: string, hint: string, ...content: (Node | null)[]) =>
    h("fieldset", { class: "card panel form-section" }, h("legend", {}, h("h2", {}, title)), h("p", { class: "hint" }, hint), ...content);

  const form = h("form", { class: "form fine-tune-form", novalidate: true },
    section("Data", "The published Datanet versions to train on. Each record is credited to its contributor in the adapter's attribution.", sources.element),
    section("Base model", "The model the adapter is trained on top of; its weights stay frozen.", models.element),
    section("LoRA", "The low-rank adapter: W + (alpha / r) · B·A on each target module.", settings.lora),
    section("Training", "Epochs, batch, warmup and evaluation follow the size of the data until you change them.", settings.training, estimate.element),
    names.element,
    status,
    h("div", { class: "row" }, submit, h("a", { class: "button ghost", href: routeHref({ name: "jobs" }) }, "Cancel")));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errors.clear();
    replace(status);
    if (!settings.check()) return;
    if (sources.sources().length === 0) return errors.show([["datanets", "Add at least one Datanet version to train on."]]);
    const { lora, training } = settings.read();
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const job = await ctx.api.createJob({
        datanets: sources.sources().map((s) => ({ id: s.datanet.id, version: s.version })),
        baseModel: models.selected().id,
        lora,
        training,
        ...names.read(),
      });
      ctx.navigate({ name: "job", id: job.id });
    } catch (err) {
      replace(status, errorBox(err));
      if (err instanceof ApiError) errors.showApiError(err);
    } finally {
      submit.disabled = false;
      submit.textContent = "Start fine-tune";
    }
  });

  async function cloneFrom(job: Job) {
    models.select(job.baseModel);
    for (const [k, v] of Object.entries(job.lora)) if (typeof v === "number") settings.set(k, v);
    settings.setTargets(job.lora.targetModules);
    const training = job.training as unknown as Record<string, unknown>;
    for (const f of NUMBER_FIELDS) if (f.group === "training") settings.set(f.key, typeof training[f.key] === "number" ? (training[f.key] as number) : undefined);
    for (const ref of job.datanets) sources.add(await ctx.api.getDatanet(ref.id, signal), ref.version);
    replace(status, h("p", { class: "muted", "data-testid": "cloned-from" }, "Settings and data copied from ", h("a", { href: routeHref({ name: "job", id: job.id }) }, h("code", {}, job.id)), ". Change what you need and start."));
  }

  async function preselectDatanet(id: string, version: number | undefined) {
    const dn = await ctx.api.getDatanet(id, signal);
    if (dn.versions < 1) replace(sources.error, `${dn.name} has no published version yet: publish one on its page first.`);
    else sources.add(dn, Math.min(version ?? dn.versions, dn.versions));
  }

  const pending = preselect.from ? ctx.api.getJob(preselect.from, signal).then(cloneFrom) : preselect.datanet ? preselectDatanet(preselect.datanet, preselect.version) : undefined;
  if (pending) {
    const wait = loading(preselect.from ? "Loading the job to clone…" : "Loading the Datanet…");
    sources.element.prepend(wait);
    pending.then(() => wait.remove(), (err: unknown) => {
      wait.remove();
      if (!isAbort(err, signal)) replace(status, errorBox(err));
    });
  }
  refresh();

  return h("section", { class: "fine-tune", "aria-labelledby": "fine-tune-title" },
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: routeHref({ name: "jobs" }) }, "Jobs"), " / New fine-tune"),
    h("h1", { id: "fine-tune-title" }, "New fine-tune"),
    h("p", { class: "lead" }, "Train a LoRA adapter on published Datanet versions. Training, held-out evaluation against the base model and the adapter's attribution fingerprint run in the background; the job page follows it live."),
    form);
}
