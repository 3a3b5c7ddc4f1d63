#!/usr/bin/env python
"""BatchNorm statistics of saved models, re-estimated (`recalibrate_bn`): on clean training films, and on test films (AdaBN).

    python bench/adapt.py --data ../shared/data/chest_xray outputs/run/model [more model folders]

For each model folder (`training_split` rebuilds and checks the split it was trained on; models from
`bench/search.py` were all split with seed 42: pass `--split-seed 42`), prints test accuracy, sensitivity,
specificity and AUC:
- as trained, at the model's own threshold;
- recalibrated on `--films` clean training films, threshold chosen again on validation (`train(recalibrate=...)`);
- adapted to the test films themselves (AdaBN, unsupervised domain adaptation), at the model's own threshold;
- adapted to one half of the test patients and scored on the other half (`--reps` random halves, both ways);
- adapted to 200 test films of a given pneumonia share, scored on the whole test set (the class mix matters);
- recalibrated and then adapted to the test films, at the recalibrated model's threshold.
With `--first 1,3,49`, instead: only the first K BatchNorm layers (the stem's is the first) adapted, for each K,
(a) to the test films, and to 200 test films of 10% and 90% pneumonia, at the model's own threshold; and (b) the same
with the threshold chosen again on the validation films adapted to themselves, so that validation and test are scored
the same way and the threshold is not simply moved by the adaptation.
Adapting uses the test films without their labels; the labels only score the result. Not a test: run by hand.
"""
import copy, time
import numpy as np, pandas as pd
from torch import nn
from sklearn.model_selection import StratifiedGroupKFold
from pneumo_nb.obtain import index_images
from pneumo_nb.model import PneumoModel, load_model, recalibrate_bn, choose_threshold, metrics_table
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

def scores(m, rows): return m.predict(rows, progress=False).prob_pneumonia.values

def adapted(m, rows, bs=64, first=None):   # a copy of `m` whose BatchNorm statistics (of its `first` BatchNorm layers only, if given) come from the films of `rows`
    c = PneumoModel(copy.deepcopy(m.net), copy.deepcopy(m.meta)); c.device = m.device
    later = [x for x in c.net.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)][first:] if first else []
    keep = [copy.deepcopy(x.state_dict()) for x in later]
    recalibrate_bn(c.net.to(c.device), c._batches(rows.path.tolist(), bs))
    for x, sd in zip(later, keep): x.load_state_dict(sd)   # the first layers come first in the forward pass: their statistics do not depend on the later ones
    return c

def line(tag, y, p, t):
    r = metrics_table(y, p, t, n_boot=0).value
    print(f"  {tag:70s} thr {t:.3f}  acc {r['accuracy']:.3f}  sens {r['sensitivity']:.3f}  spec {r['specificity']:.3f}  AUC {r['roc_auc']:.4f}", flush=True)
    return r

def mixes(te, yt):   # 200 test films, 10% and 90% pneumonia
    return {s: pd.concat([te[yt == 1].sample(round(200*s), random_state=0), te[yt == 0].sample(200-round(200*s), random_state=0)]) for s in (0.1, 0.9)}

def first_layers(m, va, te, yv, yt, ks):
    n = sum(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.net.modules())
    mx = mixes(te, yt)
    for k in ks:
        k = min(k, n)
        pv = scores(adapted(m, va, first=k), va)
        t = choose_threshold(yv, pv, m.meta['threshold_rule'], m.meta['target_recall'])
        pt = scores(adapted(m, te, first=k), te)
        pm = {s: scores(adapted(m, films, first=k), te) for s, films in mx.items()}
        line(f'first {k}/{n}: validation adapted to itself, threshold chosen again', yv, pv, t)
        for tag, thr in (("own threshold", m.threshold), ("threshold chosen on adapted validation", t)):
            line(f'first {k}/{n}, {tag}: adapted to the test films', yt, pt, thr)
            for s, p in pm.items(): line(f'first {k}/{n}, {tag}: adapted to 200, {s:.0%} pneumonia', yt, p, thr)

def main():
    ap = model_parser(__doc__)
    ap.add_argument('--films', type=int, default=1000, help='clean training films for the recalibration')
    ap.add_argument('--reps', type=int, default=3, help='random halvings of the test patients')
    ap.add_argument('--recalibrate-only', action='store_true', help='only the recalibration on clean training films')
    ap.add_argument('--first', help='comma-separated counts K: adapt only the first K BatchNorm layers (see above), nothing else')
    args = ap.parse_args()
    idx = index_images(args.data)
    for path in args.models:
        t0 = time.time(); m = load_model(path); tr = m.meta['training']
        fit, va, te, yv, yt = splits(m, idx, args.split_seed)
        print(f"{path}: {m.meta['arch']} {m.size} px, seed {tr['seed']}, threshold {m.threshold:.3f}", flush=True)
        line('as trained', yt, scores(m, te), m.threshold)
        if args.first:
            line('validation, as trained', yv, scores(m, va), m.threshold)
            first_layers(m, va, te, yv, yt, [int(k) for k in args.first.split(',')])
            print(f"  ({time.time()-t0:.0f} s)", flush=True); continue
        rc = adapted(m, fit.sample(min(args.films, len(fit)), random_state=tr['seed']))   # the same re-estimate `train` makes
        pv = scores(rc, va); rc.meta['threshold'] = choose_threshold(yv, pv, m.meta['threshold_rule'], m.meta['target_recall'])
        print(f"  recalibrated: validation AUC {metrics_table(yv, scores(m, va), m.threshold, n_boot=0).value['roc_auc']:.4f} -> "
              f"{metrics_table(yv, pv, rc.threshold, n_boot=0).value['roc_auc']:.4f}")
        line(f'recalibrated on {args.films} training films', yt, scores(rc, te), rc.threshold)
        if args.recalibrate_only: print(f"  ({time.time()-t0:.0f} s)", flush=True); continue
        line('adapted to the test films', yt, scores(adapted(m, te), te), m.threshold)
        g = te.patient.values
        res = []
        for rep in range(args.reps):
            p = np.zeros(len(te))
            for a, b in StratifiedGroupKFold(2, shuffle=True, random_state=rep).split(te, yt, g):
                p[b] = scores(adapted(m, te.iloc[a]), te.iloc[b])
            r = metrics_table(yt, p, m.threshold, n_boot=0).value; res.append([r[k] for k in ('accuracy', 'sensitivity', 'specificity', 'roc_auc')])
        print(f"  {'adapted to one half, scored on the other':44s} thr {m.threshold:.3f}  acc {{:.3f}}  sens {{:.3f}}  spec {{:.3f}}  AUC {{:.3f}}"
              .format(*np.mean(res, 0)) + f"  (mean of {args.reps} halvings)", flush=True)
        for share in (0.1, 0.3, 0.9):
            k = round(200*share)
            films = pd.concat([te[yt == 1].sample(k, random_state=0), te[yt == 0].sample(200-k, random_state=0)])
            line(f'adapted to 200 films, {share:.0%} pneumonia', yt, scores(adapted(m, films), te), m.threshold)
        line('recalibrated, then adapted to the test films', yt, scores(adapted(rc, te), te), rc.threshold)
        print(f"  ({time.time()-t0:.0f} s)", flush=True)

if __name__ == '__main__': main()
