// The benchmarks' notebooks, shared by bench/server.mjs (--job), bench/cluster.mjs (trivial) and
// bench/server-memory.mjs (greet). Each job: its cells, the query of call n, and what call n's
// answer must contain.
export const cell = (source, tags) => ({
  cell_type: "code",
  id: Math.random().toString(16).slice(2, 10),
  metadata: tags ? { tags } : {},
  source,
  outputs: [],
  execution_count: null,
});

export const JOBS = {
  greet: {
    cells: [
      cell("import naas", ["setup"]),
      cell("name = 'world'", ["parameters"]),
      cell("naas.webhook.respond_json({'greeting': 'hello ' + name})"),
    ],
    query: (n) => `?name=caller${n}`,
    expect: (n) => `"greeting": "hello caller${n}"`,
  },
  pandas: {
    cells: [
      cell("import naas\nimport pandas as pd", ["setup"]),
      cell("name = 'world'", ["parameters"]),
      cell(
        "naas.webhook.respond_json({'greeting': 'hello ' + name, 'rows': len(pd.DataFrame({'a': [1, 2]}))})",
      ),
    ],
    query: (n) => `?name=caller${n}`,
    expect: (n) => `"greeting": "hello caller${n}"`,
  },
  realistic: {
    cells: [
      cell("import json\nfrom nbhook import webhook", ["setup"]),
      cell("n = 0", ["parameters"]),
      cell("webhook.respond_json({'ok': True, 'n': n})"),
    ],
    query: (n) => `?n=${n}`,
    expect: (n) => `"n": ${n}`,
  },
  trivial: {
    cells: [cell("from nbhook import webhook", ["setup"]), cell("webhook.respond_json({'ok': True})")],
    query: () => "",
    expect: () => '"ok": true',
  },
};

/** A job's notebook: nbformat 4.5 on the python3 kernelspec. */
export const notebookOf = (job) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  cells: job.cells,
});
