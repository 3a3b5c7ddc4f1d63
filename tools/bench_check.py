#!/usr/bin/env python
"""Check that every benchmark script still starts: its imports resolve and its command line parses.

    python tools/bench_check.py [scripts ...]

The scripts of `bench/` are run by hand, on the full data, and reach into the library's internals
(`training_split`, `recalibrate_bn`, `build_net`, ...) and into each other (`from adapt import scores`). The notebooks
test the library, not the scripts, so a renamed function would break a documented command unnoticed until someone
reran it. Each script is run here as `python bench/<script> --help`, all in one process (the heavy imports are paid
once): it must print its usage and exit 0, which needs every import at its top to resolve and its argument parser to
be well formed (and, through those imports, the shared `bench/_common.py`). Nothing is trained or read. Exits 1 naming each script that fails, and why.
"""
import contextlib, io, runpy, sys, traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent/'bench'

def check(path:Path)->str|None:
    "Why `python <path> --help` fails, or None when it prints its usage and exits 0."
    argv, out = sys.argv, io.StringIO()
    sys.argv = [str(path), '--help']
    try:
        with contextlib.redirect_stdout(out): runpy.run_path(str(path), run_name='__main__')
        return "did not exit after --help (does it parse its arguments?)"
    except SystemExit as e:
        if e.code not in (0, None): return f"--help exited with {e.code}"
        return None if 'usage:' in out.getvalue() else "--help printed no usage"
    except Exception as e:   # an import or parser error; Ctrl-C still stops the check
        return f"{type(e).__name__}: {e}\n" + ''.join(traceback.format_exception(e)[-3:])
    finally: sys.argv = argv

def main():
    scripts = [Path(p) for p in sys.argv[1:]] or sorted(p for p in BENCH.glob('*.py') if not p.name.startswith('_'))   # _common.py is a module
    sys.path.insert(0, str(BENCH))   # the scripts import each other, as they do when run from bench/
    bad = {p: e for p in scripts if (e := check(p))}
    for p, e in bad.items(): print(f"{p}: {e}")
    print(f"bench check: {len(scripts)} scripts, {len(bad)} that do not start")
    sys.exit(1 if bad else 0)

if __name__ == '__main__': main()
