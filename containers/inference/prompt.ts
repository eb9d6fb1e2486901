// Chat requests become prompts with the template the adapter was trained on
// (containers/trainer/records.ts), so what was fine-tuned is what is asked:
//   instruction  "### Instruction:\n{system}\n{user}\n### Response:\n"  (earlier turns go into the input)
//   chat         "### System:|### User:|### Assistant:\n{content}" per turn, then "\n### Assistant:\n"
//   text         the contents joined by "\n" (a base model continues text)
import { formatRecord, instructionPrompt } from "../trainer/records.ts";
import type { ServedModel } from "./hooks.ts";

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant";
  content: string;
}

/** The prompt text of a chat request for this model, and stop strings its template implies. */
export function renderChat(template: ServedModel["promptTemplate"], messages: ChatMessage[]): { prompt: string; stop: string[] } {
  // OpenAI's "developer" role is the newer name of "system".
  const turns = messages.map((m) => ({ role: m.role === "developer" ? ("system" as const) : m.role, content: m.content }));
  if (template === "chat") {
    // The next "###" heading would be a turn the model invents for the user: stop before it.
    return { prompt: `${formatRecord("chat", { messages: turns })}\n### Assistant:\n`, stop: ["\n### "] };
  }
  if (template === "instruction") {
    const lastUser = turns.map((t) => t.role).lastIndexOf("user");
    const instruction = lastUser >= 0 ? turns[lastUser]!.content : turns.at(-1)!.content;
    const context = turns.filter((_, i) => i !== (lastUser >= 0 ? lastUser : turns.length - 1)).map((t) => t.content).filter(Boolean);
    return { prompt: instructionPrompt(instruction, context.length ? context.join("\n") : undefined), stop: ["\n### "] };
  }
  return { prompt: turns.map((t) => t.content).join("\n"), stop: [] };
}
