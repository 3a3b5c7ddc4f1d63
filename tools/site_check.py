#!/usr/bin/env python
"""Open every page of the built docs site in headless Chromium and fail on what a reader would hit.

    python tools/site_check.py [_docs] [--min explore=3 model=4 interpret=6]

The site is served on 127.0.0.1 (as GitHub Pages serves it, not from `file://`). Every page is loaded and fails the
check on: a console error, an image that does not load, a link to a page of the site that does not exist, a link
to an anchor its page does not have. It also checks that every public name of the library (each module's `__all__`
in `_modidx`) has its entry at the anchor nbdev's doc links use, that the search finds a function, and that the
pages of the stages show at least the figures `--min` asks for. A screenshot of each page goes to
`<site>/_screenshots/`. Links out of the site are counted, not followed (there is no network here).
Chromium: Debian's `chromium` and `chromium-driver` packages, or the browser and driver named in `$CHROMIUM` and
`$CHROMEDRIVER` (GitHub's runners have Google Chrome and its driver).
"""
import argparse, functools, http.server, importlib, inspect, os, shutil, sys, threading, tomllib
from pathlib import Path
from urllib.parse import urljoin, urlsplit, unquote

ROOT = Path(__file__).resolve().parent.parent
LIB = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']['lib_path']

def serve(folder):
    "A quiet HTTP server for `folder` on a free port of 127.0.0.1; its base URL."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}/"

def browser():
    "Headless Chromium through selenium, with the console log kept and no background network."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    exe = os.environ.get('CHROMIUM') or next(filter(None, map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome'))), None)
    drv = os.environ.get('CHROMEDRIVER') or shutil.which('chromedriver') or shutil.which('chromedriver', path=os.environ.get('CHROMEWEBDRIVER', ''))
    if not (exe and drv):
        sys.exit("site_check: Chromium or its driver not found: install Debian's packages `chromium` and `chromium-driver` "
                 "(or name them in $CHROMIUM and $CHROMEDRIVER)")
    o = webdriver.ChromeOptions(); o.binary_location = exe
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
              '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1280,1000'):
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(options=o, service=Service(drv))

PAGE_JS = """
const imgs = [...document.images];
return {
  ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  figures: [...document.querySelectorAll('article img')].filter(i => !i.closest('.sidebar-drawer')).length,
  height: document.documentElement.scrollHeight,
  leaks: [...document.querySelectorAll('article pre')].map(p => p.innerText).filter(t => /\[docs\]|Traceback \(most recent/.test(t)).map(t => t.slice(0, 120)),
};
"""

def check_page(d, base, rel, shots):
    "Load one page: what it holds (ids, links, figures) and what went wrong on it (console errors, images)."
    d.get_log('browser')   # drop what an earlier page left
    d.get(urljoin(base, rel))
    info = d.execute_script(PAGE_JS)
    errors = [e['message'] for e in d.get_log('browser') if e['level'] == 'SEVERE']
    d.set_window_size(1280, min(max(info['height'], 1000), 6000))
    shot = shots/(rel.replace('/', '__').removesuffix('.html') + '.png'); d.save_screenshot(str(shot))
    d.set_window_size(1280, 1000)
    return info, errors

def search_finds(d, base, word):
    "How many results Sphinx's search page lists for `word` once its index has loaded."
    from selenium.webdriver.support.ui import WebDriverWait
    d.get(urljoin(base, f'search.html?q={word}'))
    try: WebDriverWait(d, 20).until(lambda d: d.execute_script("return document.querySelectorAll('#search-results li').length > 0"))
    except Exception: return 0
    return d.execute_script("return document.querySelectorAll('#search-results li').length")

def _documented(m, name):
    "Whether `name` of module `m` is API a reader looks up: in `__all__`, and for a method, public and no property nor a torch `forward`."
    top, _, meth = name.partition('.')
    if top not in getattr(m, '__all__', []): return False
    if not meth: return True
    cls = getattr(m, top)
    if meth.startswith('_') or isinstance(inspect.getattr_static(cls, meth, None), property): return False
    return not (meth == 'forward' and any(b.__module__.startswith('torch.nn') for b in cls.__mro__))

def public_entries():
    "`page#anchor` of every public name of the library that `_modidx` lists (see `_documented`)."
    d = importlib.import_module(f'{LIB}._modidx').d
    return {qual: doc for mod, syms in d['syms'].items() for qual, (doc, _) in syms.items()
            if _documented(importlib.import_module(mod), qual[len(mod) + 1:])}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('site', nargs='?', default=str(ROOT/'_docs'))
    ap.add_argument('--min', nargs='*', default=['explore=3', 'model=4', 'interpret=6'], help='page=figures it must show')
    a = ap.parse_args()
    site = Path(a.site).resolve()
    if not (site/'index.html').exists(): sys.exit(f"site_check: {site} holds no index.html: build the site first (tools/docs.py)")
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html') if not p.relative_to(site).parts[0].startswith('_'))
    shots = site/'_screenshots'; shutil.rmtree(shots, ignore_errors=True); shots.mkdir()
    base, d = serve(site), browser()
    problems, seen, external, figures = [], {}, set(), {}
    try:
        for rel in pages:
            info, errors = check_page(d, base, rel, shots)
            seen[rel] = info; figures[rel] = info['figures']
            problems += [f"{rel}: console error: {e}" for e in errors]
            problems += [f"{rel}: image does not load: {s}" for s in info['broken_images']]
            problems += [f"{rel}: an output shows the build's log or a traceback: {t!r}" for t in info['leaks']]
        for rel, info in seen.items():
            for href in info['links']:
                u = urlsplit(href)
                if not href.startswith(base): external.add(href); continue
                target = unquote(u.path[len(urlsplit(base).path):]) or 'index.html'
                if target.endswith('/'): target += 'index.html'
                if not (site/target).exists(): problems.append(f"{rel}: broken link to {target}"); continue
                if u.fragment and target in seen and u.fragment not in seen[target]['ids']:
                    problems.append(f"{rel}: link to a missing anchor {target}#{u.fragment}")
        n_search = search_finds(d, base, 'choose_threshold')
        if not n_search: problems.append("search.html: searching for choose_threshold finds nothing")
    finally: d.quit()
    entries = public_entries()
    for qual, doc in entries.items():
        page, _, anchor = doc.partition('#')
        if page not in seen: problems.append(f"{qual}: its page {page} is missing")
        elif anchor not in seen[page]['ids']: problems.append(f"{qual}: no entry at {doc}")
    for m in a.min:
        page, n = m.split('='); page = f"{page}.html"
        if figures.get(page, 0) < int(n): problems.append(f"{page}: {figures.get(page, 0)} figures, fewer than {n}")
    links = sum(len(i['links']) for i in seen.values())
    shown = ', '.join(f"{p.removesuffix('.html')} {n}" for p, n in figures.items() if n)
    print(f"site check: {len(pages)} pages, {links} links ({len(external)} distinct ones out of the site, not followed), "
          f"{sum(figures.values())} figures ({shown}), "
          f"{len(entries)} public entries, search for choose_threshold: {n_search} results; screenshots in {shots}")
    for p in problems: print('  ' + p)
    print(f"site check: {len(problems)} problems")
    sys.exit(1 if problems else 0)

if __name__ == '__main__': main()
