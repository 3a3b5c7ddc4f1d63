#!/usr/bin/env python
"""Build the docs website from the notebooks into `_docs/`, without Quarto.

    python tools/docs.py            # full: every notebook with its full settings on the real data (the published site)
    python tools/docs.py --quick    # quick: the notebooks' test settings (small real subsets), as CI builds it

1. **Run** every notebook on a copy in `_proc/nbs/` (never in `nbs/`), each in its own process, in OSEMiN order, so
   the pages carry their figures. Quick mode sets `IN_TEST`, as `nbdev-test` does, and skips the cells flagged with
   `tst_flags`; full mode runs every cell (the `gpu` ones only where there is a GPU). Both share one output folder
   (`_proc/outputs`), so `05_interpret` reads the model `04_model` trained instead of training it again.
2. **Process** them with nbdev's own processors (`FilterDefaults`: hidden and export cells gone, `show_doc` rendered,
   names in backticks linked through `_modidx`), then turn Quarto's directives into what Sphinx knows (`echo: false`
   hides a cell's input, the front matter becomes the title) and give every `show_doc` entry a source link and the
   anchor nbdev's doc links use (`core.html#data_dir`).
3. **Render** with Sphinx, myst-nb and the furo theme, offline, with warnings as errors. Pages keep Quarto's names
   (`00_core.ipynb` -> `core.html`), so nbdev's links and a Quarto build, where there is one, agree.

Check the result in a browser with `python tools/site_check.py _docs`. Nothing in the working tree changes.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, threading, time, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = tomllib.loads((ROOT/'pyproject.toml').read_text())
NBDEV, PROJECT = SETTINGS['tool']['nbdev'], SETTINGS['project']
GIT_URL = PROJECT['urls']['Repository'].rstrip('/')
SITE_URL = PROJECT['urls']['Documentation'].rstrip('/') + '/'
LIB = NBDEV['lib_path']
QUICK_BANNER = ("Quick build: the figures and numbers on these pages come from small subsets of the data (the notebooks' "
                "test settings), not from the study. <code>python tools/docs.py</code> builds the full site.")
DISCLAIMER = "pneumo_nb is a research and screening aid, not a diagnosis: every result must be reviewed by a qualified clinician."
ATTRIBUTION = ("**Screening aid, not a diagnosis:** " + DISCLAIMER.split(': ', 1)[1] + "\n\n"
               "The radiographs shown on this page are from Kermany, Zhang and Goldbaum (2018), *Large Dataset of Labeled "
               "Optical Coherence Tomography (OCT) and Chest X-Ray Images*, Mendeley Data, "
               "[doi:10.17632/rscbjbr9sj](https://data.mendeley.com/datasets/rscbjbr9sj/2), licensed "
               "[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/) (Guangzhou Women and Children's Medical "
               "Center, children aged one to five).")
SUBPAGES = {'obtain': ['dicom'], 'model': ['nets', 'thresholds', 'modelfile', 'learner', 'evaluation', 'deploy', 'distributed']}   # nested under a page in the sidebar

def log(*a): print('[docs]', *a, flush=True)

def notebooks(nbs):
    "The notebooks in site order: the numbered stages, then index, then the study; checkpoints and `_` files skipped."
    fs = [p for p in nbs.rglob('*.ipynb') if not any(s.startswith(('.', '_')) for s in p.relative_to(nbs).parts)]
    return sorted(fs, key=lambda p: (len(p.relative_to(nbs).parts), p.name == 'index.ipynb', str(p)))

def page_name(nb_rel:Path)->Path:
    "Quarto's page for a notebook: the numeric prefix dropped (`04a_nets.ipynb` -> `nets`), folders kept."
    return nb_rel.with_name(re.sub(r'^\d+[a-z]?_', '', nb_rel.stem))

# ---------------------------------------------------------------------------------------------------------- 1. run
def _flags(src): return {w for l in src.splitlines() if l.startswith('#|') for w in l[2:].split()}

def run_one(src, dst, quick):
    "Execute notebook `src` with execnb (as `nbdev-test` does) and write it, outputs included, to `dst`."
    from fastcore.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    import torch
    skip = set(NBDEV.get('tst_flags', '').split()) if quick else ({'gpu'} - ({'gpu'} if torch.cuda.is_available() else set()))
    nb = read_nb(src)
    state = dict(cell=None, t=time.time())
    def pre(c):
        state.update(cell=c.get('id', '?'), t=time.time())
        return c.cell_type == 'code' and bool(_flags(c.source) & skip)   # True: not run
    def beat():   # a sign of life at least every 30 s while one cell runs long
        while not done.wait(30):
            print(f"[docs]   {src.name}: cell {state['cell']} running for {time.time() - state['t']:.0f} s", flush=True,
                  file=sys.__stdout__)   # the process's own stdout: the shell captures sys.stdout into the cell's outputs
    done = threading.Event(); threading.Thread(target=beat, daemon=True).start()
    os.chdir(src.parent)
    try: CaptureShell(src).run_all(nb, exc_stop=True, preproc=pre)
    finally: done.set()
    write_nb(nb, dst)

def run_all(work, quick):
    "Copy `nbs/` to `work/nbs` and execute every notebook there, each in a fresh process; stop at the first failure."
    src = work/'nbs'
    shutil.copytree(ROOT/NBDEV['nbs_path'], src, ignore=shutil.ignore_patterns('.ipynb_checkpoints', 'outputs'))
    env = {**os.environ, 'PNEUMO_OUT': str(work/'outputs'), 'PNEUMO_NO_PROGRESS': '1', 'MPLBACKEND': 'Agg',
           'PATH': os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')])}   # `pneumo`, unactivated venv too
    env.pop('IN_TEST', None)
    if quick: env['IN_TEST'] = '1'
    for nb in notebooks(src):
        t = time.time(); log(f"running {nb.relative_to(src)}")
        r = subprocess.run([sys.executable, __file__, '--run-one', str(nb)] + (['--quick'] if quick else []), env=env)
        if r.returncode: sys.exit(f"[docs] {nb.relative_to(src)} failed (its error is above): the site is not built; the notebooks "
                                  f"before it ran in {src}")
        log(f"  {nb.relative_to(src)}: {time.time() - t:.0f} s")
    return src

# ------------------------------------------------------------------------------------------------------ 2. process
_DOC_HEAD = re.compile(r'\A\s*---\s*\n+(?:\[source\]\((\S+?)\)(?:\{[^}]*\})?\s*\n+)?(#{2,4}) (\S+)[ \t]*\n')

def _doc_entry(md):
    "A `show_doc` output with the anchor nbdev's doc links expect (`#pneumomodel.save`) and its source link inline."
    m = _DOC_HEAD.match(md)
    if not m: return md
    src, level, name = m.groups()
    link = f' <a class="source-link" href="{src}">source</a>' if src else ''
    return f'<span id="{name.replace(chr(92), "").lower()}"></span>\n\n{level} {name}{link}\n' + md[m.end():]

_LINK = re.compile(r'(\]\()([^)\s#]+)(#[^)\s]*)?(\))')

def _fix_links(md, nb_rel):
    "Relative links of a notebook's prose as the site's own: pages (`nets.html`, `../04_model.ipynb`) and repository files."
    here = (ROOT/NBDEV['nbs_path']/nb_rel).parent
    def fix(m):
        target, frag = m.group(2), m.group(3) or ''
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I): return m.group(0)   # a URL
        for base in (here, ROOT):
            f = (base/target).resolve()
            if target.endswith('.html'): f = f.with_suffix('.ipynb')
            nbs = (ROOT/NBDEV['nbs_path']).resolve()
            if f.suffix == '.ipynb' and f.is_relative_to(nbs) and (f.exists() or target.endswith('.html')):
                page = page_name(f.relative_to(nbs))
                if target.endswith('.html') and not f.exists(): page = f.relative_to(nbs).with_suffix('')   # already a page name
                return f"{m.group(1)}{SITE_URL}{page.as_posix()}.html{frag}{m.group(4)}"
            if f.exists() and f.is_relative_to(ROOT):
                return f"{m.group(1)}{GIT_URL}/blob/{NBDEV.get('branch', 'main')}/{f.relative_to(ROOT).as_posix()}{frag}{m.group(4)}"
        return m.group(0)
    return _LINK.sub(fix, md)

def _directives(cell):
    "Quarto's cell options as myst-nb tags; the `#|` lines dropped from the source."
    lines = cell.source.splitlines()
    opts = {}
    while lines and lines[0].startswith('#|'):
        k, _, v = lines.pop(0)[2:].partition(':'); opts[k.strip()] = v.strip()
    tags = cell.metadata.setdefault('tags', [])
    if opts.get('echo') == 'false': tags.append('remove-input')
    if opts.get('output') == 'false': tags.append('remove-output')
    if opts.get('include') == 'false': tags.append('remove-cell')
    cell.source = '\n'.join(lines)

def _shows_films(nb):
    "Whether a page shows images (every figure of ours with a film in it is a PNG output)."
    return any('image/png' in o.get('data', {}) for c in nb.cells for o in c.get('outputs', []))

def process(src, dest, quick):
    "nbdev's processors, then the Quarto-to-Sphinx steps, for every executed notebook; the Sphinx source in `dest`."
    from fastcore.nbio import read_nb, write_nb, mk_cell
    from nbdev.processors import FilterDefaults
    os.chdir(ROOT); os.environ['IN_TEST'] = '1'   # as nbdev's own processing does (serve_drv)
    files = notebooks(src)
    pages = [page_name(f.relative_to(src)) for f in files]
    nested = {p for v in SUBPAGES.values() for p in v}
    for f, rel in zip(files, pages):
        nb = read_nb(f); FilterDefaults()(nb)
        fm = next((c for c in nb.cells if c.cell_type == 'raw' and c.source.startswith('---')), None)
        if fm is not None:
            import yaml
            meta = yaml.safe_load(fm.source.strip().strip('-')) or {}
            nb.cells.remove(fm)
            head = f"# {meta.get('title', rel.stem)}" + (f"\n\n> {meta['description']}" if meta.get('description') else '')
            nb.cells.insert(0, mk_cell(head, 'markdown'))
        for c in nb.cells:
            if c.cell_type == 'code': _directives(c)
            if c.cell_type == 'markdown': c.source = _fix_links(c.source, f.relative_to(src))
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = _doc_entry(''.join(md))
        subs = SUBPAGES.get(rel.stem)
        if rel.stem == 'index': subs = [str(p) for p in pages if p.stem != 'index' and p.stem not in nested]
        if subs: nb.cells.append(mk_cell('```{toctree}\n:hidden:\n:maxdepth: 2\n\n' + '\n'.join(subs) + '\n```', 'markdown'))
        if _shows_films(nb): nb.cells.append(mk_cell(ATTRIBUTION, 'markdown'))
        for c in nb.cells:   # nbformat's keys only: nbdev's processors leave their own (`has_sd`, ...)
            for k in [k for k in c if k not in ('cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments')]: del c[k]
            c.metadata.pop('execution', None)
            if c.cell_type == 'code': c.setdefault('outputs', []); c.setdefault('execution_count', None)
        (dest/rel).parent.mkdir(parents=True, exist_ok=True)
        write_nb(nb, (dest/rel).with_suffix('.ipynb'))
    index = pages.pop(next(i for i, p in enumerate(pages) if str(p) == 'index'))
    return [index] + pages

# ------------------------------------------------------------------------------------------------------- 3. render
CONF = '''
project = {title!r}
html_title = {title!r}
extensions = ['myst_nb']
nb_execution_mode = 'off'             # the notebooks were run before: their outputs are the pages' figures
nb_merge_streams = True
myst_enable_extensions = ['colon_fence', 'dollarmath']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type']   # show_doc's entries are headings inside outputs
html_theme = 'furo'
html_baseurl = {site!r}
html_copy_source = False
html_show_sourcelink = False
html_static_path = ['_static']
html_css_files = ['pneumo.css']
html_favicon = '_static/favicon.svg'
html_theme_options = {{'announcement': {banner!r}, 'source_repository': {git!r}, 'source_branch': {branch!r},
                      'source_directory': 'nbs/'}}
exclude_patterns = ['_build', '**.ipynb_checkpoints']
'''
CSS = '''
.source-link { font-size: 0.7em; font-weight: normal; margin-left: 0.8em; }
.announcement { font-size: 0.85em; }
.announcement-content { white-space: normal; overflow-wrap: anywhere; }
.cell_output img { max-width: 100%; height: auto; }
'''

FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f4e79"/>'
           '<path d="M15 7c-5 1-9 8-9 15 0 3 2 4 5 3l4-2zM17 7c5 1 9 8 9 15 0 3-2 4-5 3l-4-2z" fill="#fff"/></svg>')

def render(dest, out, quick):
    "Sphinx over `dest` into `out`, warnings as errors; links to the site's own address made relative."
    banner = ("<b>Screening aid, not a diagnosis:</b> " + DISCLAIMER.split(': ', 1)[1] +
              (' &nbsp;|&nbsp; ' + QUICK_BANNER if quick else ''))
    (dest/'_static').mkdir(exist_ok=True); (dest/'_static'/'pneumo.css').write_text(CSS)
    (dest/'_static'/'favicon.svg').write_text(FAVICON)
    (dest/'conf.py').write_text(CONF.format(title=NBDEV.get('title', PROJECT['name']), site=SITE_URL, banner=banner,
                                            git=GIT_URL, branch=NBDEV.get('branch', 'main')))
    tmp = dest.parent/'html'; shutil.rmtree(tmp, ignore_errors=True)   # myst-nb writes beside it (`jupyter_execute/`)
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-W', '--keep-going', '-n', '-q',
                        '-d', str(dest.parent/'doctrees'), str(dest), str(tmp)])
    if r.returncode: sys.exit("[docs] Sphinx failed (its warnings are above): the site is not built")
    for page in tmp.rglob('*.html'):
        up = '../' * (len(page.relative_to(tmp).parts) - 1)
        html = page.read_text()
        fixed = html.replace(f'href="{SITE_URL}', f'href="{up}')   # nbdev's links name the published site
        if fixed != html: page.write_text(fixed)
    (tmp/'.nojekyll').touch()
    old = out.with_name(out.name + '.old'); shutil.rmtree(old, ignore_errors=True)
    if out.exists(): out.rename(old)   # the last good site stays until the new one is whole
    shutil.move(tmp, out); shutil.rmtree(old, ignore_errors=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help="the notebooks' test settings, with a banner saying so (CI)")
    ap.add_argument('--out', default=str(ROOT/NBDEV.get('doc_path', '_docs')), help='the site folder (default: _docs)')
    ap.add_argument('--work', default=str(ROOT/'_proc'), help='where the notebooks are run and processed (default: _proc)')
    ap.add_argument('--no-run', action='store_true', help='render the notebooks as committed, without outputs (a check of the pages alone)')
    ap.add_argument('--render-only', action='store_true', help='process and render the notebooks an earlier build ran (in --work)')
    ap.add_argument('--run-one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run_one: return run_one(Path(a.run_one), Path(a.run_one), a.quick)
    t0, work = time.time(), Path(a.work).resolve()
    src, mode = work/'nbs', work/'mode'
    if a.render_only:   # a build that ran its notebooks and failed later (or a tweak of the rendering) goes on from there
        if not mode.exists(): sys.exit(f"[docs] --render-only: no notebooks were run in {src}: build without it first")
        quick = mode.read_text() == 'quick'
        shutil.rmtree(work/'site', ignore_errors=True)
    else:
        quick = a.quick
        shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
        log(f"{'quick' if quick else 'full'} build; notebooks run in {src}")
        if a.no_run: shutil.copytree(ROOT/NBDEV['nbs_path'], src, ignore=shutil.ignore_patterns('.ipynb_checkpoints', 'outputs'))
        else: run_all(work, quick)
        mode.write_text('quick' if quick else 'full')
    dest = work/'site'; dest.mkdir()
    pages = process(src, dest, quick)
    log(f"processed {len(pages)} pages; rendering with Sphinx")
    render(dest, Path(a.out).resolve(), quick)
    log(f"site in {a.out}: {len(pages)} pages, {time.time() - t0:.0f} s")

if __name__ == '__main__': main()
