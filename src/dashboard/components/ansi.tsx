/** Tracebacks as the kernel coloured them: ANSI escapes turned into classed spans by ansi_up. */
import { AnsiUp } from "ansi_up";

const converter = new AnsiUp();
converter.use_classes = true; // classes (style.css), not inline styles
converter.escape_html = true;

export function ansiToHtml(text: string): string {
  return converter.ansi_to_html(text);
}

export function AnsiBlock({ lines }: { lines: string[] }) {
  // ansi_up escapes every < & " in the text; what it adds is only <span class="ansi-…">.
  return <pre class="traceback" dangerouslySetInnerHTML={{ __html: ansiToHtml(lines.join("\n")) }} />;
}
