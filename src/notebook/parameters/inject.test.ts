import { describe, expect, it } from "vitest";
import type { Cell, Notebook } from "../types.js";
import { findInjectedCellIndex, injectParameters, newCellId } from "./inject.js";

function code(source: string, tags?: string[], id?: string): Cell {
  const cell: Cell = {
    cell_type: "code",
    source,
    metadata: tags ? { tags } : {},
    outputs: [],
    execution_count: null,
  };
  if (id) cell.id = id;
  return cell;
}

function markdown(source: string, tags?: string[]): Cell {
  return { cell_type: "markdown", source, metadata: tags ? { tags } : {} };
}

function notebook(cells: Cell[], minor = 4): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: minor,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3" } },
    cells,
  };
}

const sources = (nb: Notebook): string[] =>
  nb.cells.map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));

describe("injectParameters", () => {
  it("puts the cell right after the first cell tagged parameters", () => {
    const nb = notebook([
      code("import x"),
      code("a = 1", ["parameters"]),
      code("b = 2", ["parameters"]),
      code("end"),
    ]);
    const out = injectParameters(nb, { a: 5n }, { language: "python" });
    expect(sources(out)).toEqual(["import x", "a = 1", "# Parameters\na = 5\n", "b = 2", "end"]);
    expect(findInjectedCellIndex(out)).toBe(2);
  });

  it("counts a markdown cell tagged parameters", () => {
    const nb = notebook([markdown("# Title", ["parameters"]), code("a = 1")]);
    const out = injectParameters(nb, { a: 5n }, { language: "python" });
    expect(findInjectedCellIndex(out)).toBe(1);
  });

  it("puts the cell first when no cell is tagged parameters", () => {
    const nb = notebook([code("a = 1"), code("b = 2", ["other"])]);
    const out = injectParameters(nb, { a: 5n }, { language: "python" });
    expect(findInjectedCellIndex(out)).toBe(0);
    expect(sources(out)).toEqual(["# Parameters\na = 5\n", "a = 1", "b = 2"]);
  });

  it("replaces an earlier injected cell in place, even before the parameters cell", () => {
    const nb = notebook([
      code("old", ["injected-parameters"]),
      code("a = 1", ["parameters"]),
      code("old too", ["injected-parameters"]),
    ]);
    const out = injectParameters(nb, { a: 7n }, { language: "python" });
    expect(sources(out)).toEqual(["# Parameters\na = 7\n", "a = 1", "old too"]);
  });

  it("makes a code cell tagged injected-parameters with nothing else", () => {
    const out = injectParameters(notebook([]), { s: "x" }, { language: "python", comment: "Injected" });
    expect(out.cells).toEqual([
      {
        cell_type: "code",
        execution_count: null,
        metadata: { tags: ["injected-parameters"] },
        outputs: [],
        source: '# Injected\ns = "x"\n',
      },
    ]);
  });

  it("gives the cell a fresh id from nbformat 4.5 on, and none before", () => {
    const nb45 = notebook([code("a = 1", ["parameters"], "abc")], 5);
    const cell45 = injectParameters(nb45, { a: 1n }, { language: "python" }).cells[1];
    expect(cell45?.id).toMatch(/^[a-zA-Z0-9-_]{1,64}$/);
    expect(cell45?.id).not.toBe("abc");
    const cell44 = injectParameters(notebook([]), { a: 1n }, { language: "python" }).cells[0];
    expect(cell44 && "id" in cell44).toBe(false);
  });

  it("does not change the notebook it is given", () => {
    const nb = notebook([code("a = 1", ["parameters"])]);
    const before = structuredClone(nb);
    injectParameters(nb, { a: 2n }, { language: "python" });
    expect(nb).toEqual(before);
  });

  it("records the parameters in metadata.papermill, keeping what was there", () => {
    const nb = notebook([]);
    nb.metadata.papermill = { input_path: "in.ipynb", parameters: { old: 1 } };
    const out = injectParameters(nb, { n: 3n, x: 0.5, bad: NaN, l: [1n, { k: 2n }] }, { language: "python" });
    expect(out.metadata.papermill).toEqual({
      input_path: "in.ipynb",
      parameters: { n: 3, x: 0.5, bad: null, l: [1, { k: 2 }] },
    });
    expect(out.metadata.kernelspec).toEqual(nb.metadata.kernelspec);
  });

  it("writes the notebook's language", () => {
    const nb = notebook([code("days <- 3", ["parameters"])]);
    expect(sources(injectParameters(nb, { days: 5n, ok: true }, { language: "r" }))[1]).toBe(
      "# Parameters\ndays = 5\nok = TRUE\n",
    );
  });

  it("redeclares a JavaScript name with the keyword the parameters cell declared it with", () => {
    const nb = notebook([code("var a = 1;\nlet b = 2;\nconst c = 3;", ["parameters"])]);
    const out = injectParameters(nb, { a: 5n, b: 6n, c: 7n, d: 8n }, { language: "typescript" });
    expect(sources(out)[1]).toBe("// Parameters\nvar a = 5;\nlet b = 6;\nconst c = 7;\nlet d = 8;\n");
  });

  it("takes the keyword from any code cell, but not from the injected cell it replaces", () => {
    const nb = notebook([
      code("let a = 0;", ["injected-parameters"]),
      code("const b = 1;"),
      code("x = 1", ["parameters"]),
      code("const a = 2;\nvar c = 3;"),
      markdown("let c = 4;"),
    ]);
    const out = injectParameters(nb, { a: 5n, b: 6n, c: 7n }, { language: "javascript" });
    expect(sources(out)[0]).toBe("// Parameters\nconst a = 5;\nconst b = 6;\nvar c = 7;\n");
  });

  it("refuses a bad name before changing anything", () => {
    expect(() => injectParameters(notebook([]), { "x-y": 1n }, { language: "python" })).toThrow(/"x-y"/);
  });
});

describe("findInjectedCellIndex", () => {
  it("is -1 without an injected cell", () => {
    expect(findInjectedCellIndex(notebook([code("a = 1", ["parameters"])]))).toBe(-1);
  });
});

describe("newCellId", () => {
  it("makes 8 hex characters not already taken", () => {
    const id = newCellId(new Set(["00000000"]));
    expect(id).toMatch(/^[0-9a-f]{8}$/);
  });
});
