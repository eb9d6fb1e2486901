import { h, replace } from "../../dom.ts";
import { formatCount, formatDuration } from "../../format.ts";
import type { RunEstimate } from "../../jobs/run-estimate.ts";

/** Where the training rate of a time estimate comes from, said beside it. */
export interface TrainingRate {
  tokensPerSecond: number;
  source: string;
}

export interface RunEstimatePanel {
  element: HTMLElement;
  /** Shows an estimate; undefined while the data's counts are loading or nothing is picked. */
  update(estimate: RunEstimate | undefined, rate: TrainingRate | undefined): void;
}

/** The run's steps, tokens and time before it starts, with the reasons it might learn nothing. */
export function runEstimatePanel(): RunEstimatePanel {
  const facts = h("dl", { class: "stats estimate-stats" });
  const warnings = h("div", { "aria-live": "polite" });
  const note = h("p", { class: "hint" });
  const element = h("section", { class: "estimate", "aria-labelledby": "estimate-title", "data-testid": "run-estimate" },
    h("h3", { id: "estimate-title" }, "Estimate"), facts, warnings, note);

  const stat = (label: string, value: string, key: string) => h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-estimate": key }, value));

  return {
    element,
    update(e, rate) {
      element.dataset.warnings = String(e?.warnings.length ?? 0);
      element.dataset.blocked = String(e?.blocked !== undefined);
      if (!e) {
        replace(facts);
        replace(warnings);
        replace(note, "Pick a Datanet version to see how long the run will be.");
        return;
      }
      // Estimated from token counts: "≈", or "≥" where they are the ingest's lower bound; max steps are exact.
      const about = e.lowerBound ? "≥ " : "≈ ";
      replace(facts,
        stat("Optimizer steps", `${e.stepsExact ? "" : about}${formatCount(e.steps)}`, "steps"),
        stat("Training tokens", `${about}${formatCount(e.tokensSeen)}`, "tokens"),
        stat("Passes over the data", e.passes.toFixed(e.passes < 10 ? 1 : 0), "passes"),
        stat("Records", `${formatCount(e.trainRecords)} train · ${formatCount(e.heldOutRecords)} held out`, "records"),
        stat("Time", e.seconds === undefined ? "—" : `${about}${formatDuration(e.seconds)}`, "time"));
      replace(warnings,
        e.blocked ? h("div", { class: "alert alert-error", role: "alert", "data-testid": "estimate-blocked" }, e.blocked) : null,
        e.warnings.length > 0
          ? h("div", { class: "alert alert-warn", "data-testid": "estimate-warning" },
            h("strong", {}, "This run may learn little or nothing:"),
            h("ul", {}, e.warnings.map((w) => h("li", {}, w))))
          : null);
      replace(note,
        `${formatCount(e.sequences)} packed sequence${e.sequences === 1 ? "" : "s"} of up to ${formatCount(e.seqLen)} tokens per pass, ${formatCount(e.sequencesPerStep)} per step. `,
        e.lowerBound
          ? "Token counts are the Datanets' pre-token counts (no tokenizer cost is measured for this model), which its tokenizer only raises: steps, tokens and time are lower bounds. "
          : `Tokens are the model's, estimated from the Datanets' pre-token counts as the API's recipe does (${e.cost.perIngestToken} per pre-token, ${e.cost.perRecord} of prompt template per record); the trainer counts them exactly when it starts. `,
        rate ? `Time at ${formatCount(Math.round(rate.tokensPerSecond))} tokens/s (${rate.source}), training only.` : "");
    },
  };
}
