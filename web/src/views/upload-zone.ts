import type { AppContext } from "../app-context.ts";
import { h, replace } from "../dom.ts";
import { formatBytes, formatCount } from "../format.ts";
import { uploadFile, type UploadStage } from "../upload/upload-file.ts";
import { isAbort } from "./common.ts";

const ACCEPT = ".jsonl,.ndjson,.csv,.txt,application/x-ndjson,text/csv,text/plain";

/**
 * The drop zone: drag files onto it or pick them; each file is hashed,
 * uploaded with a live progress bar and followed until ingest finishes.
 * Files go one at a time so progress bars read in order.
 */
export function uploadZone(ctx: AppContext, datanetId: string, signal: AbortSignal, onIngested: () => void): HTMLElement {
  const input = h("input", { type: "file", id: "upload-input", multiple: true, accept: ACCEPT, class: "visually-hidden", "data-testid": "upload-input", "aria-label": "Choose files to upload (JSONL, CSV or plain text)" });
  const zone = h("div", { class: "dropzone", "data-testid": "dropzone", tabindex: 0, role: "button", "aria-describedby": "dropzone-hint" },
    h("div", { class: "dropzone-icon", "aria-hidden": "true" }, "⇪"),
    h("p", {}, h("strong", {}, "Drop files here"), " or ", h("span", { class: "link" }, "choose files")),
    h("p", { class: "hint", id: "dropzone-hint" }, "JSONL, CSV or plain text. The file is hashed (SHA-256) in your browser before upload; every accepted record is credited to your address."));
  const rows = h("ul", { class: "upload-rows", "aria-label": "Uploads", "aria-live": "polite" });

  const queue: File[] = [];
  let running = false;

  async function drain() {
    if (running) return;
    running = true;
    try {
      for (let file = queue.shift(); file && !signal.aborted; file = queue.shift()) await one(file);
    } finally {
      running = false;
    }
  }

  async function one(file: File) {
    const phase = h("span", { class: "phase" }, "Queued");
    const bar = h("progress", { max: 1, value: 0, "aria-label": `Progress of ${file.name}` });
    const result = h("div", { class: "result" });
    const row = h("li", { class: "upload-row", "data-testid": "upload-row", "data-phase": "queued" },
      h("div", { class: "upload-head" }, h("span", { class: "filename" }, file.name), h("span", { class: "muted small" }, formatBytes(file.size)), phase),
      bar, result);
    rows.prepend(row);

    const show = (stage: UploadStage) => {
      row.dataset.phase = stage.phase;
      switch (stage.phase) {
        case "hashing":
          phase.textContent = `Hashing ${Math.round(stage.progress * 100)}%`;
          bar.value = stage.progress;
          break;
        case "requesting":
          phase.textContent = "Requesting upload…";
          bar.removeAttribute("value");
          break;
        case "uploading":
          phase.textContent = `Uploading ${Math.round(stage.progress * 100)}%`;
          bar.value = stage.progress;
          break;
        case "processing":
          phase.textContent = stage.upload?.status === "processing" ? "Ingesting records…" : "Waiting for ingest…";
          bar.removeAttribute("value");
          break;
        case "done":
          phase.textContent = "Done";
          bar.value = 1;
          replace(result,
            h("span", { class: "count ok", "data-testid": "accepted-count" }, `${formatCount(stage.upload.accepted)} accepted`),
            h("span", { class: "count bad", "data-testid": "rejected-count" }, `${formatCount(stage.upload.rejected)} rejected`));
          break;
        case "failed":
          phase.textContent = "Failed";
          bar.value = 0;
          replace(result, h("span", { class: "count bad", role: "alert" }, stage.error));
          break;
      }
    };

    try {
      await uploadFile(ctx.api, datanetId, file, show, signal);
      onIngested();
    } catch (err) {
      if (isAbort(err, signal)) return;
      // The row already shows the failure; nothing else to do.
    }
  }

  function add(files: FileList | File[] | null) {
    if (!files || files.length === 0) return;
    queue.push(...Array.from(files));
    void drain();
  }

  input.addEventListener("change", () => {
    add(input.files);
    input.value = "";
  });
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  // dragenter/leave fire for every child; count them so the highlight does not flicker.
  let depth = 0;
  zone.addEventListener("dragenter", (e) => { e.preventDefault(); depth += 1; zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (depth === 0) zone.classList.remove("over"); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = "copy"; });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    add(e.dataTransfer?.files ?? null);
  });

  return h("div", { class: "upload-zone" }, input, zone, rows);
}
