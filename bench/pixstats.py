#!/usr/bin/env python
"""Which plain pixel statistics set the test normals apart from training's, and which go with the ones a model flags?

    python bench/pixstats.py --data ../shared/data/chest_xray [--split-seed 42] [runs.jsonl ...]

`bench/domain.py` found the test normals far easier to tell from training's than the test pneumonias from theirs,
on a generic network's features. This script asks the same of a dozen statistics anyone can read off a film (as the
model opens it, 8-bit gray): brightness (mean, 1st and 99th percentiles, share of near-black and near-white pixels),
contrast (standard deviation, distinct gray levels), fine texture (sharpness: variance of the Laplacian; mean gradient
magnitude; noise: spread of the film minus its 3x3 median), and layout (spread of the row means, top eighth minus
bottom eighth, centre half over the whole). For each it prints the median of training and test films of each class,
and the ROC AUC of the statistic alone between training and test normals, training and test pneumonias, and the two
training classes (0.5: no difference; far from it either way: a difference). Then a logistic regression on all of
them together, cross-validated, for the same three pairs. With the runs.jsonl files of `bench/search.py`, it also
prints, per statistic, the range over runs of its Spearman correlation with the probability of PNEUMONIA among test
normals and among validation normals, and its median among the test normals each run flags and those it clears.
With `--originals`, it asks whether the compression carries the texture: the full-size originals of each class,
squashed to 224 px as the shared copy was (`bench/jpeg.py`'s `squash`), as written and after re-saving at libjpeg
quality 75 first (the test normals' writer), beside the shared copies of the same films.
Test labels are read to group the films, never to fit a model that is used elsewhere. A diagnosis: nothing here
chooses a model or a threshold. Not a test: run by hand.
"""
import argparse, json, time
from pathlib import Path
import numpy as np, pandas as pd
from scipy import ndimage as ndi
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from pneumo_nb.obtain import index_images, data_dir
from pneumo_nb.scrub import open_xray, split_by_patient
from jpeg import jpeg, squash   # bench/jpeg.py: the originals squashed as the shared copy was

def stats(item)->dict:
    "Plain statistics of one film, as the model opens it, in 8-bit gray."
    a = np.asarray(open_xray(item).convert('L'), dtype=np.float32); h, w = a.shape
    levels = np.bincount(a.astype(np.uint8).ravel(), minlength=256)
    return dict(mean=a.mean(), p1=np.percentile(a, 1), p99=np.percentile(a, 99), black=(a < 10).mean(), white=(a > 245).mean(),
                std=a.std(), levels=int((levels > 0).sum()),
                sharpness=ndi.laplace(a).var(), gradient=np.hypot(ndi.sobel(a, 0), ndi.sobel(a, 1)).mean(),
                noise=(a - ndi.median_filter(a, 3)).std(),
                row_spread=a.mean(1).std(), top_minus_bottom=a[:h//8].mean() - a[-(h//8):].mean(),
                centre_over_all=a[h//4:3*h//4, w//4:3*w//4].mean()/max(a.mean(), 1.))

def auc(x, a, b):
    "ROC AUC of `x` telling rows `b` (1) from rows `a` (0)."
    return roc_auc_score(np.r_[np.zeros(a.sum()), np.ones(b.sum())], np.r_[x[a], x[b]])

def joint(X, y, seed=0):
    "Cross-validated ROC AUC of a logistic regression on all the statistics."
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight='balanced'))
    return cross_val_score(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed), scoring='roc_auc').mean()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='*', help='runs.jsonl files written by bench/search.py (optional)')
    ap.add_argument('--data', default=None, help='folder with train/ and test/ (default: PNEUMO_DATA, ...)')
    ap.add_argument('--split-seed', type=int, default=42, help='patient split of the runs (bench/search.py: 42)')
    ap.add_argument('--originals', default=None, help='the full-size originals (train/ and test/ inside), for the compression check')
    a = ap.parse_args()
    t = time.time()
    df = split_by_patient(index_images(data_dir(a.data)), seed=a.split_seed)
    df = df[df.split.isin(['train', 'test'])].reset_index(drop=True)
    S = pd.DataFrame([stats(p) for p in df.path]); cols = list(S.columns)
    df = pd.concat([df, S], axis=1)
    trN, teN = ((df.split == 'train') & (df.label == 'NORMAL')).values, ((df.split == 'test') & (df.label == 'NORMAL')).values
    trP, teP = ((df.split == 'train') & (df.label != 'NORMAL')).values, ((df.split == 'test') & (df.label != 'NORMAL')).values
    rows = [dict(statistic=k, **{f'median {n}': np.median(df[k].values[m]) for n, m in
                 [('train N', trN), ('test N', teN), ('train P', trP), ('test P', teP)]},
                 **{'AUC train N / test N': auc(df[k].values, trN, teN), 'AUC train P / test P': auc(df[k].values, trP, teP),
                    'AUC train N / train P': auc(df[k].values, trN, trP)}) for k in cols]
    r = pd.DataFrame(rows).set_index('statistic')
    print(f"{len(df)} films (training includes the validation children), statistics in {time.time() - t:.0f} s\n")
    print(r.sort_values('AUC train N / test N').round(3).to_string())
    X = df[cols].to_numpy(float)
    print("\nall statistics together (logistic regression, 5-fold cross-validated ROC AUC):")
    for name, m0, m1 in [('training normals / test normals', trN, teN), ('training pneumonias / test pneumonias', trP, teP),
                         ('training normals / training pneumonias', trN, trP)]:
        print(f"  {name}: {joint(np.r_[X[m0], X[m1]], np.r_[np.zeros(m0.sum()), np.ones(m1.sum())]):.3f}")
    by_name = df.assign(name=df.path.map(lambda p: Path(p).name)).set_index('name')[cols]
    if a.runs and not by_name.index.is_unique: raise SystemExit("file names repeat across folders: runs.jsonl files name films by file name alone")
    res = []
    for f in a.runs:
        for line in open(f):
            run = json.loads(line)
            v = pd.DataFrame(dict(name=run['val_names'], y=run['yv'], p=run['pv'])).set_index('name').join(by_name)
            te = pd.DataFrame(dict(name=run['test_names'], y=run['yt'], p=run['pt'])).set_index('name').join(by_name)
            vn, tn = v[v.y == 0], te[te.y == 0]; fl = tn.p >= run['threshold']
            res += [dict(statistic=k, rho_test_normals=spearmanr(tn[k], tn.p)[0], rho_val_normals=spearmanr(vn[k], vn.p)[0],
                         flagged=tn[k][fl].median(), cleared=tn[k][~fl].median()) for k in cols]
    if res:
        n = len(res)//len(cols)
        print(f"\nover {n} runs (min and max): Spearman correlation with the probability of PNEUMONIA among test and validation"
              "\nnormals, and the median among the test normals each run flags and those it clears:")
        print(pd.DataFrame(res).groupby('statistic', sort=False).agg(['min', 'max']).round(3).to_string())
    if a.originals: originals(Path(a.originals), Path(data_dir(a.data)))
    print(f"\n{time.time() - t:.0f} s")

def originals(root, shared):
    "Median texture statistics of the originals, squashed as written and after a quality-75 re-save, and of their shared copies."
    rows = []
    for f in sorted(p for p in root.glob('*/*/*') if p.is_file()):
        im, g = open_xray(f).convert('L'), f'{f.parent.parent.name} {f.parent.name}'
        rows += [dict(films=g, how='squashed as written', **stats(squash(im))), dict(films=g, how='re-saved at q75, squashed', **stats(squash(jpeg(im, 75))))]
        if (c := shared/f.relative_to(root)).exists(): rows.append(dict(films=g, how='shared copy', **stats(c)))
    print("\noriginals: median statistics (n: films)")
    r = pd.DataFrame(rows).astype({'sharpness': float, 'noise': float, 'row_spread': float})
    print(r.groupby(['films', 'how']).agg(n=('levels', 'size'), levels=('levels', 'median'), sharpness=('sharpness', 'median'),
                                         noise=('noise', 'median'), row_spread=('row_spread', 'median')).round(2).to_string())

if __name__ == '__main__': main()
