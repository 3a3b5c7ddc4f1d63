#!/usr/bin/env python
"""Does a site gain by adapting a model's BatchNorm statistics to its own labelled films before choosing its threshold there?

    python bench/siteadapt.py --data ../shared/data/chest_xray --split-seed 42 <model folders> [--sizes 40,120] [--reps 12]

AdaBN (adapting BatchNorm statistics to the test films, without labels) was the largest single gain measured in
this study, but it depends on the class mix of the films it adapts to (study/model_search). A site that labels some of
its films can fix that mix itself. This script stands the official test set in for a site, as bench/sitesize.py
does: for each saved model and size k, it draws test children at random, whole children only, until the site holds
k films of each class, and compares, on the test children not drawn:
- 'rethreshold only': the threshold chosen on the site's films by the model's rule (what `rethreshold` does);
- 'adapted, as drawn': BatchNorm statistics re-estimated (`recalibrate_bn`) on the site's films as they come, then
  the threshold chosen on the site's films scored by the adapted network;
- 'adapted, training mix': the same, with the site's films drawn again, with replacement, to `--films` films at the
  training films' share of PNEUMONIA (74% for the split of seed 42), so that the statistics move with the machine
  and not with the mix of classes.
The held-out children are scored by the same network that chose the threshold. Prints, per size and variant, the
median threshold and the held-out sensitivity, specificity, accuracy and ROC AUC (mean, 5th and 95th percentiles
over all draws of all models). Each model's test films are decoded once and kept in memory. Not a test: run by hand.
"""
import argparse, copy, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).parent))
from sitesize import draw_site
from pneumo_nb.core import POSITIVE
from pneumo_nb.obtain import index_images, patient_id
from pneumo_nb.model import load_model, recalibrate_bn, choose_threshold, metrics_table, training_split

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('models', nargs='+', help='saved model folders, trained on one patient split')
    ap.add_argument('--data', required=True, help='dataset folder')
    ap.add_argument('--split-seed', type=int, help='seed of the split, if the models do not record it (bench/search.py: 42)')
    ap.add_argument('--sizes', default='40,120', help='labelled films per class a site holds')
    ap.add_argument('--reps', type=int, default=12, help='random draws per model and size')
    ap.add_argument('--films', type=int, default=512, help="films drawn for the 'training mix' statistics")
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    df = index_images(a.data)
    te = df[df.split == 'test'].reset_index(drop=True)
    yt = (te.label == POSITIVE).astype(int).values
    pats = np.array([patient_id(p) for p in te.path], dtype=object)
    rng, rows, t0 = np.random.default_rng(a.seed), [], time.time()
    for folder in a.models:
        m = load_model(folder)
        split = training_split(m, df, a.split_seed)
        fit = split[(split.split == 'train') & ~split.is_valid]
        mix = float((fit.label == POSITIVE).mean())
        X = torch.cat(list(m._batches(te.path.tolist(), 64)))   # the test films as the model sees them, decoded once
        def score(net, idx):
            net.eval()
            with torch.no_grad(): return torch.cat([torch.softmax(net(X[idx[i:i+128]]), 1)[:, 1] for i in range(0, len(idx), 128)]).numpy()
        def adapted(idx):
            net = copy.deepcopy(m.net)
            recalibrate_bn(net, (X[idx[i:i+64]] for i in range(0, len(idx), 64)))
            return net
        base = score(m.net, np.arange(len(te)))
        print(f"{folder}: training mix {mix:.3f} PNEUMONIA; model's own threshold {m.threshold:.3f}", flush=True)
        for k in map(int, a.sizes.split(',')):
            for rep in range(a.reps):
                site = draw_site(pats, yt, k, rng)
                si, ho = np.where(site)[0], np.where(~site)[0]
                pos, neg = si[yt[si] == 1], si[yt[si] == 0]
                n1 = round(a.films*mix)
                resampled = rng.permutation(np.r_[rng.choice(pos, n1), rng.choice(neg, a.films - n1)])
                for how, idx in (('rethreshold only', None), ('adapted, as drawn', rng.permutation(si)), ('adapted, training mix', resampled)):
                    if idx is None: ps, ph = base[si], base[ho]
                    else: net = adapted(idx); ps, ph = score(net, si), score(net, ho)
                    t = choose_threshold(yt[si], ps, m.meta.get('threshold_rule', 'recall'), m.meta.get('target_recall', 0.95))
                    r = metrics_table(yt[ho], ph, t, n_boot=0).value
                    rows.append(dict(model=folder, size=k, how=how, threshold=t, **{c: r[c] for c in ('sensitivity', 'specificity', 'accuracy', 'roc_auc')}))
            print(f"  {k} films per class: {a.reps} draws done at {time.time() - t0:.0f} s", flush=True)
    d = pd.DataFrame(rows)
    q = lambda s: f"{s.mean():.3f} [{np.percentile(s, 5):.3f}, {np.percentile(s, 95):.3f}]"
    out = [{'films per class': k, 'variant': how, 'draws': len(g), 'threshold (median)': f"{g.threshold.median():.3f}",
            'sensitivity': q(g.sensitivity), 'specificity': q(g.specificity), 'accuracy': f"{g.accuracy.mean():.3f}",
            'ROC AUC': f"{g.roc_auc.mean():.4f}"} for (k, how), g in d.groupby(['size', 'how'], sort=True)]
    with pd.option_context('display.width', 250, 'display.max_columns', 20): print(pd.DataFrame(out).to_string(index=False))
    print(f"{time.time() - t0:.0f} s")

if __name__ == '__main__': main()
