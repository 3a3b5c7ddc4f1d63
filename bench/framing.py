#!/usr/bin/env python
"""How tightly is each film framed? A label-free estimate, and whether it tells the test normals that are flagged.

    python bench/framing.py --data ../shared/data/chest_xray [--n 1500] [--seed 0] [--split-seed 42] [runs.jsonl ...]

`study/model_search` puts the test normals' false alarms down, in part, to framing: many are collimated tight, as many
training pneumonias are, and a tighter crop makes a training normal look like a test normal to a generic network
(`bench/domain.py --zoom`). That regression was fitted on test normals, so it measures "looks like a test normal", of
which framing may be only a part. This script measures framing alone, without any label. It crops `--n` training films
(validation children excluded; `--split-seed` as the runs were split) at a random zoom, log-uniform from 1 to
`--max-zoom`, about a random centre that keeps the crop inside the film, and fits a ridge regression from their frozen
ImageNet EfficientNet-Lite0 features (160 px, as the model sees the films; `bench/domain.py`) to the log of the zoom.
Applied to a film as it is, the regression says how zoomed-in the film already looks: its framing, in log-zoom
units, 0 for a film framed like the training set's average crop of zoom 1 (its own framing is what the fit cannot
see, so it adds to the estimate).

Prints the fit's cross-validated R^2 (grouped by child), a check on films it never saw (validation normals re-framed
with `reframe` at 1.3 should gain about log 1.3 = 0.26), the estimate's quantiles for each class of the training,
validation and test sets, and, for every run of the given `bench/search.py` runs.jsonl files, how the estimate goes
with the run's probability of PNEUMONIA among validation and test normals (Spearman) and the median estimate of the
test normals the run flags against those it clears. Test labels are read to group the films, never to fit anything.
A diagnosis: nothing here chooses a model or a threshold. Not a test: run by hand.
"""
import argparse, json, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from pneumo_nb.obtain import index_images, data_dir
from pneumo_nb.scrub import open_xray, split_by_patient
from pneumo_nb.interpret import reframe
from domain import features   # bench/domain.py: pooled ImageNet Lite0 features of 160 px films

def crop(item, log_zoom, rng):
    "The film cropped to 1/zoom of each side about a random centre that keeps the crop inside it, at its own size."
    im = open_xray(item); w, h = im.size; z = np.exp(log_zoom)
    cw, ch = w/z, h/z
    cx, cy = w/2 + rng.uniform(-1, 1)*(w - cw)/2, h/2 + rng.uniform(-1, 1)*(h - ch)/2
    return im.resize((w, h), Image.Resampling.BILINEAR, box=(cx - cw/2, cy - ch/2, cx + cw/2, cy + ch/2))

def fit(rows, n, max_zoom, seed):
    "Ridge regression from Lite0 features of `n` randomly cropped films of `rows` to their log-zoom; prints its grouped CV R^2."
    rng = np.random.default_rng(seed)
    s = rows.sample(n, random_state=seed).reset_index(drop=True)
    lz = rng.uniform(0, np.log(max_zoom), n)
    X = features([crop(p, z, rng) for p, z in zip(s.path, lz)])
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(0, 4, 9)))
    pred = cross_val_predict(reg, X, lz, cv=GroupKFold(5), groups=s.patient)
    print(f"fit on {n} training films cropped at zoom 1 to {max_zoom}: cross-validated R^2 {1 - ((pred - lz)**2).mean()/lz.var():.3f} "
          f"(5 folds by child), mean absolute error {np.abs(pred - lz).mean():.3f} in log-zoom")
    return reg.fit(X, lz)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='*', help='runs.jsonl files written by bench/search.py (optional)')
    ap.add_argument('--data', default=None, help='folder with train/ and test/ (default: PNEUMO_DATA, ...)')
    ap.add_argument('--n', type=int, default=1500, help='training films cropped for the fit')
    ap.add_argument('--max-zoom', type=float, default=1.8, help='largest zoom of the crops')
    ap.add_argument('--seed', type=int, default=0, help='draw of the films, zooms and centres')
    ap.add_argument('--split-seed', type=int, default=42, help='patient split of the runs (bench/search.py: 42)')
    a = ap.parse_args()
    t = time.time()
    df = split_by_patient(index_images(data_dir(a.data)), seed=a.split_seed)
    df = df[df.split.isin(['train', 'test'])].reset_index(drop=True)
    reg = fit(df[(df.split == 'train') & ~df.is_valid], a.n, a.max_zoom, a.seed)
    df['s'] = reg.predict(features(list(df.path)))
    vn = df[df.is_valid & (df.label == 'NORMAL')]
    gain = reg.predict(features([reframe(p, 1.3) for p in vn.path])) - vn.s.values
    print(f"validation normals re-framed at zoom 1.3: estimate up by {np.median(gain):.3f} (median; log 1.3 = {np.log(1.3):.3f}), "
          f"up on {(gain > 0).mean():.0%} of {len(vn)} films")
    df['films'] = np.where(df.split == 'test', 'test', np.where(df.is_valid, 'validation', 'training')) + ' ' + df.label
    q = df.groupby('films').s.describe(percentiles=[.1, .25, .5, .75, .9])
    print("\nframing estimate (log-zoom) of the films as they are:")
    print(q.drop(columns=['min', 'max']).round(3).to_string())
    names = dict(zip(df.path.map(lambda p: Path(p).name), df.s))
    if a.runs and len(names) != len(df): raise SystemExit("file names repeat across folders: runs.jsonl files name films by file name alone")
    rows = []
    for f in a.runs:
        for line in open(f):
            r = json.loads(line)
            v = pd.DataFrame(dict(y=r['yv'], p=r['pv'], s=[names[n] for n in r['val_names']]))
            te = pd.DataFrame(dict(y=r['yt'], p=r['pt'], s=[names[n] for n in r['test_names']]))
            vn, tn = v[v.y == 0], te[te.y == 0]
            fl = tn.p >= r['threshold']
            rows.append(dict(config=r['name'], seed=r['seed'], rho_val_normals=spearmanr(vn.s, vn.p)[0],
                             rho_test_normals=spearmanr(tn.s, tn.p)[0], rho_test_pneumonias=spearmanr(te[te.y == 1].s, te[te.y == 1].p)[0],
                             flagged=int(fl.sum()), s_flagged=tn.s[fl].median(), s_cleared=tn.s[~fl].median()))
    if rows:
        print("\nper run: Spearman correlation of the estimate with the probability of PNEUMONIA, and the median estimate of"
              "\nthe test normals flagged at the run's threshold against those cleared:")
        print(pd.DataFrame(rows).round(3).to_string(index=False))
    print(f"\n{time.time() - t:.0f} s")

if __name__ == '__main__': main()
