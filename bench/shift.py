#!/usr/bin/env python
"""Why the validation threshold does not carry over: the scores of each class on validation and on the test set.

    python bench/shift.py bench/results/search/runs.jsonl [--configs frame] [--data ../shared/data/chest_xray]

Reads the runs that bench/search.py wrote (each keeps its validation and test probabilities; no model is loaded).
For every run it prints, per class and set, quantiles of the probability of PNEUMONIA and the share flagged at the
run's own threshold, and the same for the PNEUMONIA films split by kind (bacterial or viral, from their file names:
the films under the threshold are mostly viral) and the NORMAL films by their file-name batch (`NORMAL2-IM-...` against
`IM-...`), and the validation NORMAL films of each batch in quarters by file number. The test set's normals are
the lowest-numbered block of each batch (`IM-0001` to `IM-0111`, `NORMAL2-IM-0007` to `NORMAL2-IM-0381`; training's
start at `IM-0115` and `NORMAL2-IM-0383`): if the shift grew with the numbers, as a drift over time would, the
validation children numbered nearest the test block would score higher than the rest, and a validation split made of
them would have warned. With `--data`, it also prints the median of a few plain image statistics per split and class (every
test film, every third training film): brightness, contrast, fine detail (mean absolute difference from a Gaussian
blur of radius 2), the centre's and the side strips' brightness, and the JPEG's size. A diagnosis, read with the test
labels: nothing here chooses a model or a threshold. Not a test: run by hand.
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image, ImageFilter

Q = [0.05, 0.25, 0.5, 0.75, 0.95]

def score_rows(run):
    "Per set, class (and kind of PNEUMONIA, batch of NORMAL): count, quantiles of the probability, share flagged at the run's threshold."
    thr = run['threshold']
    for sset, names, y, p in (('validation', run['val_names'], run['yv'], run['pv']), ('test', run['test_names'], run['yt'], run['pt'])):
        names, y, p = np.asarray(names), np.asarray(y), np.asarray(p)
        groups = [('PNEUMONIA', y == 1),
                  ('PNEUMONIA, bacterial', (y == 1) & (np.char.find(names, '_bacteria') >= 0)),
                  ('PNEUMONIA, viral', (y == 1) & (np.char.find(names, '_virus') >= 0)), ('NORMAL', y == 0),
                  ('NORMAL, NORMAL2-IM-*', (y == 0) & np.char.startswith(names, 'NORMAL2-')),
                  ('NORMAL, IM-*', (y == 0) & np.char.startswith(names, 'IM-'))]
        for g, m in groups:
            if not m.any(): continue
            yield dict(config=run['name'], seed=run['seed'], set=sset, films=g, n=int(m.sum()),
                       **{f'q{int(q*100)}': round(float(np.quantile(p[m], q)), 3) for q in Q},
                       flagged=round(float((p[m] >= thr).mean()), 3))

def number_rows(run, quarters=4):
    "Validation NORMAL films of each file-name batch in `quarters` by file number: range, median probability, share flagged."
    thr, names, y, p = run['threshold'], np.asarray(run['val_names']), np.asarray(run['yv']), np.asarray(run['pv'])
    for batch in ('IM-', 'NORMAL2-IM-'):
        idx = np.array([i for i, n in enumerate(names) if y[i] == 0 and n.startswith(batch)], dtype=int)
        if len(idx) < quarters: continue
        num = np.array([int(names[i][len(batch):].split('-')[0]) for i in idx])
        for q, part in enumerate(np.array_split(np.argsort(num, kind='stable'), quarters), 1):
            yield dict(batch=batch + '*', quarter=q, numbers=f'{num[part].min()}-{num[part].max()}', n=len(part),
                       median=round(float(np.median(p[idx[part]])), 4), flagged=round(float((p[idx[part]] >= thr).mean()), 3))

def image_stats(path):
    im = Image.open(path).convert('L'); a = np.asarray(im, float)
    b = np.asarray(im.filter(ImageFilter.GaussianBlur(2)), float)
    h, w = a.shape
    return dict(brightness=a.mean(), contrast=a.std(), detail=np.abs(a - b).mean(),
                centre=a[h//4:3*h//4, w//4:3*w//4].mean(), sides=(a[:, :w//11].mean() + a[:, -(w//11):].mean())/2,
                kB=Path(path).stat().st_size/1000)

def stats_table(data):
    out = []
    for split, step in (('train', 3), ('test', 1)):
        for label in ('NORMAL', 'PNEUMONIA'):
            files = sorted((Path(data)/split/label).glob('*.jpeg'))[::step]
            s = pd.DataFrame([image_stats(f) for f in files]).median()
            out.append(dict(split=split, label=label, n=len(files), **s.round(1).to_dict()))
    return pd.DataFrame(out)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='runs.jsonl files written by bench/search.py')
    ap.add_argument('--configs', help='only these configurations (comma-separated)')
    ap.add_argument('--data', help='dataset folder, for the image statistics')
    args = ap.parse_args()
    runs = [json.loads(l) for f in args.runs for l in open(f) if l.strip()]
    if args.configs: runs = [r for r in runs if r['name'] in args.configs.split(',')]
    if not runs: ap.error('no runs to read')
    pd.set_option('display.width', 200)
    for r in runs:
        print(f"\n{r['name']} seed {r['seed']}: threshold {r['threshold']:.3f}; probability of PNEUMONIA by set and class")
        print(pd.DataFrame(score_rows(r)).drop(columns=['config', 'seed']).to_string(index=False))
        nr = pd.DataFrame(number_rows(r))
        if len(nr): print('validation NORMAL films by file number (lowest first: nearest the test block)'); print(nr.to_string(index=False))
    if args.data:
        print('\nmedian image statistics (every test film, every third training film)')
        print(stats_table(args.data).to_string(index=False))

if __name__ == '__main__': main()
