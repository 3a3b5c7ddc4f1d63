#!/usr/bin/env python
"""Check that the docs build can run every cell it executes.

    python tools/docs_check.py [notebooks ...]

To render `show_doc`, nbdev's docs build (`nbdev-proc-nbs`, then `nbdev-docs` or `nbdev-preview`) executes, in a
fresh kernel and out of the notebook's order, every exported cell and *every cell holding an import, however deep*,
but no other cell. A test cell with an import inside it is therefore run without the cells it depends on, and the
build fails with a NameError (or, worse, trains a model). nbdev's own rule (`nbdev.processors._do_eval`) decides
which cells run; this script lists each such cell that is neither exported nor made of imports alone, and exits 1.
The fix: put the imports in a cell of their own just above. Quarto, which the rest of the docs build needs, is not
required here.
"""
import ast, sys, warnings
from pathlib import Path
from nbdev.process import NBProcessor
try: from nbdev.processors import _do_eval
except ImportError: sys.exit("tools/docs_check.py: this nbdev no longer has processors._do_eval; update the check")

def problems(path):
    "(cell id, first line) of each cell of `path` the docs build would execute that is neither exported nor imports alone."
    out = []
    for c in NBProcessor(path).nb.cells:
        if c.cell_type != 'code': continue
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')   # nbdev's own warning says the same, less precisely
            if not _do_eval(c): continue
        if c.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: continue
        trees = c.parsed_()
        if not any(isinstance(n, (ast.Import, ast.ImportFrom)) for t in trees for n in ast.walk(t)): continue   # a `show_doc` cell: runs alone
        if all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): continue
        out.append((c.get('id', f'cell {c.idx_}'), next(l for l in c.source.splitlines() if l.strip())))
    return out

if __name__ == '__main__':
    nbs = [Path(p) for p in sys.argv[1:]] or sorted(Path(__file__).parent.parent.glob('nbs/*.ipynb'))
    bad = [(p, i, l) for p in nbs for i, l in problems(p)]
    for p, i, l in bad: print(f"{p}: cell {i} ({l!r}) holds an import and other code: the docs build runs it out of order; move its imports into a cell of their own")
    print(f"docs check: {len(nbs)} notebooks, {len(bad)} cells the docs build cannot run alone")
    sys.exit(1 if bad else 0)
