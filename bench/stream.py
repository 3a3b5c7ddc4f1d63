#!/usr/bin/env python
"""Big folders: peak memory of `pneumo predict` on 100 and on 10,000 files, and an interrupted run resumed.

    python bench/stream.py MODEL --data ../shared/data/chest_xray [--n 10000]

Makes folders of symbolic links into the data's films (the 5,856 films, taken again under other names up to `--n`),
runs `pneumo predict` on each in a fresh process and reports its peak resident memory (ru_maxrss of that process)
and images/s; then runs the big folder again, stops it with SIGINT halfway, runs the same command once more and
checks that the CSV is byte for byte the uninterrupted one. Not a test: run it by hand, on a quiet machine.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time
from pathlib import Path
from pneumo_nb.obtain import index_images, data_dir

def folder(d:Path, films:list, n:int)->Path:
    "A folder of `n` links into `films`, taken in turn."
    d.mkdir()
    for i in range(n): (d/f'{i:05d}_{Path(films[i % len(films)]).name}').symlink_to(films[i % len(films)])
    return d

def predict(model, src, out, stop_after=None):
    "Run `pneumo predict` in a fresh process: (exit status, seconds, peak RSS in MB); SIGINT once `stop_after` rows are on disk."
    cmd = [sys.executable, '-c', 'import sys; from pneumo_nb.cli import main; sys.exit(main())', 'predict', str(src),
           '--model', str(model), '--out', str(out)]
    t = time.perf_counter(); p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    rec = Path(str(out) + '.partial.json')
    while stop_after is not None and p.poll() is None:
        try:
            if json.loads(rec.read_text())['rows'] >= stop_after: p.send_signal(signal.SIGINT); break
        except (OSError, ValueError): pass
        time.sleep(0.2)
    _, status, ru = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - t, ru.ru_maxrss/1024

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model', help='a saved model folder (PyTorch or ONNX bundle)')
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--n', type=int, default=10_000, help='files in the big folder')
    ap.add_argument('--out', help='also write the figures to this JSON file')
    a = ap.parse_args()
    films = index_images(data_dir(a.data)).path.tolist()
    tmp = Path(tempfile.mkdtemp())
    r = dict(model=a.model, n_small=100, n_big=a.n)
    for name, n in (('small', 100), ('big', a.n)):
        rc, s, mb = predict(a.model, folder(tmp/name, films, n), tmp/f'{name}.csv')
        assert rc == 0, rc
        r.update({f'{name}_peak_mb': round(mb, 1), f'{name}_img_s': round(n/s, 1), f'{name}_s': round(s, 1)})
    r['peak_ratio'] = round(r['big_peak_mb']/r['small_peak_mb'], 3)
    rc, s1, _ = predict(a.model, tmp/'big', tmp/'cut.csv', stop_after=a.n//2)
    rows = json.loads(Path(str(tmp/'cut.csv') + '.partial.json').read_text())['rows']
    rc2, s2, _ = predict(a.model, tmp/'big', tmp/'cut.csv')
    r.update(interrupted_rc=rc, rows_at_interrupt=rows, resumed_rc=rc2, resumed_s=round(s2, 1),
             resumed_csv_identical=(tmp/'cut.csv').read_bytes() == (tmp/'big.csv').read_bytes())
    for k, v in r.items(): print(f"{k:24s} {v}")
    if a.out: Path(a.out).write_text(json.dumps(r, indent=2))

if __name__ == '__main__': main()
