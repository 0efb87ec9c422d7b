/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (what a Prometheus server scrapes):
 * `# HELP` and `# TYPE` lines, then samples `name{label="value",…} value [timestamp]`, label values
 * with the format's escapes (`\\`, `\"`, `\n`). Anything else is an error, so a test that reads
 * /metrics with it proves that Prometheus could read it too. No npm package does this for Node
 * (prom-client writes the format, it does not read it).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const SUFFIXES: Record<string, string[]> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count", ""],
};

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!meta) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`bad comment at ${where}`);
        return; // other comments are allowed
      }
      const [, kind, name, rest] = meta;
      const family = families.get(name!) ?? { name: name!, type: "untyped", help: "", samples: [] };
      families.set(name!, family);
      if (kind === "HELP") family.help = rest!.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      else {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest!))
          throw new Error(`unknown type at ${where}`);
        if (family.samples.length > 0) throw new Error(`TYPE after samples at ${where}`);
        family.type = rest as MetricFamily["type"];
      }
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(families, sample.name);
    if (!family) throw new Error(`sample of an undeclared metric at ${where}`);
    family.samples.push(sample);
  });
  return families;
}

function familyOf(families: Map<string, MetricFamily>, sampleName: string): MetricFamily | undefined {
  const direct = families.get(sampleName);
  if (direct && !SUFFIXES[direct.type]) return direct;
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type] ?? []) {
      if (family.name + suffix === sampleName) return family;
    }
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const name = NAME.exec(line)?.[0];
  if (!name) throw new Error(`no metric name at ${where}`);
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1);
    while (!rest.startsWith("}")) {
      const label = LABEL_NAME.exec(rest)?.[0];
      if (!label || rest[label.length] !== "=" || rest[label.length + 1] !== '"')
        throw new Error(`bad label at ${where}`);
      rest = rest.slice(label.length + 2);
      let value = "";
      for (;;) {
        const c = rest[0];
        if (c === undefined) throw new Error(`unterminated label value at ${where}`);
        rest = rest.slice(1);
        if (c === '"') break;
        if (c === "\\") {
          const escaped = rest[0];
          rest = rest.slice(1);
          if (escaped === "n") value += "\n";
          else if (escaped === "\\" || escaped === '"') value += escaped;
          else throw new Error(`bad escape at ${where}`);
        } else {
          value += c;
        }
      }
      if (label in labels) throw new Error(`label ${label} twice at ${where}`);
      labels[label] = value;
      if (rest.startsWith(",")) rest = rest.slice(1);
      else if (!rest.startsWith("}")) throw new Error(`expected , or } at ${where}`);
    }
    rest = rest.slice(1);
  }
  const parts = rest.trim().split(/\s+/);
  if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) throw new Error(`bad value at ${where}`);
  const value = parseValue(parts[0]!, where);
  if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`bad timestamp at ${where}`);
  return { name, labels, value };
}

/** As Prometheus reads a value (Go's strconv.ParseFloat): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(text: string, where: string): number {
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad number at ${where}`);
  return Number(text);
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) return sample.value;
    }
  }
  return undefined;
}
