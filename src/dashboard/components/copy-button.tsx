import { useState } from "preact/hooks";

/** Copies `text`; falls back to selecting it where the Clipboard API is not allowed (plain http). */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState<"" | "copied" | "failed">("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone("copied");
    } catch {
      const input = document.createElement("textarea");
      input.value = text;
      document.body.append(input);
      input.select();
      const ok = document.execCommand("copy");
      input.remove();
      setDone(ok ? "copied" : "failed");
    }
    setTimeout(() => setDone(""), 1500);
  };
  return (
    <button type="button" class="small" onClick={copy} aria-live="polite">
      {done === "copied" ? "Copied" : done === "failed" ? "Copy failed" : label}
    </button>
  );
}
