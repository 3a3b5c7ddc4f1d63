#!/usr/bin/env python
"""Size figures of the library and the README, for keeping modules small enough to read.

    python tools/code_stats.py [repo]   # the repository's root; this checkout by default

Prints, for each module of `pneumo_nb/` (generated `_modidx.py` left out): its lines, its longest function or method
(lines, name) and its share of lines over 100 characters; then the totals and the README's line count.
"""
import ast, sys
from pathlib import Path

def longest(tree)->tuple:
    "(lines, name) of the longest function or method in `tree`."
    fns = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return max(((n.end_lineno - n.lineno + 1, n.name) for n in fns), default=(0, '-'))

def main(root=Path(__file__).resolve().parent.parent):
    root = Path(root); total = long_total = 0
    print(f"{'module':<16}{'lines':>7}{'>100 chars':>12}  longest function")
    for f in sorted((root/'pneumo_nb').glob('*.py')):
        if f.name in ('_modidx.py', '__init__.py'): continue
        text = f.read_text(); lines = text.splitlines(); n_long = sum(len(l) > 100 for l in lines)
        total += len(lines); long_total += n_long
        n, name = longest(ast.parse(text))
        print(f"{f.stem:<16}{len(lines):>7}{n_long/len(lines):>11.0%}  {name} ({n} lines)")
    print(f"{'all':<16}{total:>7}{long_total/total:>11.0%}")
    print(f"README.md: {len((root/'README.md').read_text().splitlines())} lines")

if __name__ == '__main__': main(*sys.argv[1:])
