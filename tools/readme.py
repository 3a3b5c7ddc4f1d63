#!/usr/bin/env python
"""Render nbs/index.ipynb as README.md without Quarto (`nbdev-readme` needs Quarto).

    python tools/readme.py          # write README.md
    python tools/readme.py --check  # exit 1 if README.md differs from what index.ipynb gives

Markdown cells are copied as they are; code cells become ```python blocks; cells marked `#| hide` are left out,
and so are the title cell's `#|`-style directives.
"""
import argparse, re, sys
from pathlib import Path
from fastcore.nbio import read_nb

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    parts = ["<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->"]
    for c in read_nb(nb_path).cells:
        src = c.source.strip('\n')
        if not src.strip(): continue
        if c.cell_type == 'markdown': parts.append(src)
        elif c.cell_type == 'code':
            if re.search(r'^#\|\s*hide\b', src, re.M): continue
            code = '\n'.join(l for l in src.split('\n') if not l.startswith('#|')).strip('\n')
            if code: parts.append(f"```python\n{code}\n```")
    return '\n\n'.join(parts) + '\n'

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='fail if README.md is out of date')
    a = ap.parse_args()
    text, readme = render(), ROOT/'README.md'
    if a.check:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`", file=sys.stderr); return 1
        print("README.md matches nbs/index.ipynb"); return 0
    readme.write_text(text); print(f"wrote {readme}"); return 0

if __name__ == '__main__': sys.exit(main())
