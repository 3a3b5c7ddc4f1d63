#!/usr/bin/env python
"""How many labelled films does a site need to choose its own threshold? Measured on saved probabilities.

    python bench/sitesize.py bench/results/search/runs.jsonl [--configs default] [--sizes 10,20,40,80,120] [--reps 500]

`rethreshold` (and `pneumo rethreshold`) chooses a model's threshold on a site's own labelled films, by the model's
rule (the highest threshold whose recall on PNEUMONIA reaches 95%). How well that threshold serves the site's
next films depends on how many films it was chosen on. This script stands the official test set in for a site: for
each run of bench/search.py (which kept its test probabilities) and each size k, it draws test children at random,
whole children only, until at least k films of each class are "labelled by the site", chooses the threshold on them
with `choose_threshold`, and scores the site's other children, the films it has not labelled, with `metrics_table`.
Repeated `--reps` times per run and size. Three site rules are scored: 'recall' (95% of the site's pneumonias kept, the
model's own rule), 'conformal' (95% of its new pneumonias kept on average; it needs 19 pneumonias) and 'confident'
(95% of its new pneumonias kept with probability `--confidence`, 0.9; it needs 45 pneumonias at 0.9), with the recall
`new_film_recall` promises for each: on average (1 - (misses+1)/(n+1) on the site's films) and with that confidence. The model's own threshold, chosen on the training hospital's validation
children, is scored on the same held-out films for comparison. Prints, per size, the thresholds' median and the
held-out sensitivity and specificity (mean, 5th and 95th percentiles over all draws of all runs), how often the
held-out sensitivity falls below 0.90 and below 0.95 (the 'confident' rule's promise bounds the
site's recall on all its new pneumonias, which the held-out films only sample: even at recall exactly 0.95, about
half of them would fall below), and how often Kermany et al.'s accuracy, sensitivity and specificity are all
met at once. No model is trained or loaded. The test set is one hospital's films, the same hospital as training's:
a stand-in for a site, not a second site. Not a test: run by hand.
"""
import argparse, json
import numpy as np, pandas as pd
from pneumo_nb.obtain import patient_id
from pneumo_nb.core import PneumoError
from pneumo_nb.model import choose_threshold, new_film_recall, metrics_table

KERMANY = dict(accuracy=0.928, sensitivity=0.932, specificity=0.901)   # Kermany et al. 2018 on this test set

def draw_site(pats, y, k, rng):
    "Boolean mask of the films 'labelled by the site' (`pats`: each film's child): whole children drawn at random, class by class, until each class has at least `k` films."
    site = np.zeros(len(y), bool)
    for c in (0, 1):
        ps = np.unique(pats[y == c]); rng.shuffle(ps)
        n = 0
        for p in ps:
            if n >= k: break
            m = pats == p; site |= m; n += int(m.sum())
    return site

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('runs', nargs='+', help='runs.jsonl files written by bench/search.py')
    ap.add_argument('--configs', default='default', help='comma-separated configuration names to use (default: default)')
    ap.add_argument('--sizes', default='10,20,40,80,120', help='labelled films per class a site holds')
    ap.add_argument('--reps', type=int, default=500, help='random draws per run and size')
    ap.add_argument('--confidence', type=float, default=0.9, help="the 'confident' rule's confidence (default 0.9)")
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    configs, sizes = a.configs.split(','), [int(s) for s in a.sizes.split(',')]
    runs = [r for f in a.runs for r in map(json.loads, open(f)) if r['name'] in configs]
    if not runs: raise SystemExit(f"no runs of {configs} in {a.runs}")
    print(f"{len(runs)} runs: " + ', '.join(f"{r['name']} seed {r['seed']}" for r in runs))
    rng = np.random.default_rng(a.seed)
    out = []
    for r in runs:
        yt, pt = np.asarray(r['yt']), np.asarray(r['pt'])
        pats = np.array([patient_id(n) for n in r['test_names']], dtype=object)
        own = choose_threshold(np.asarray(r['yv']), np.asarray(r['pv']))   # the model's own, chosen on validation
        for k in sizes:
            for _ in range(a.reps):
                site = draw_site(pats, yt, k, rng)
                ho = ~site
                ths = [('model', own), ('site: recall', choose_threshold(yt[site], pt[site]))]
                for rule in ('conformal', 'confident'):
                    try: ths.append((f'site: {rule}', choose_threshold(yt[site], pt[site], rule=rule, confidence=a.confidence)))
                    except PneumoError: pass   # too few pneumonias: the rule cannot promise 95%
                for who, t in ths:
                    sens, spec, acc = metrics_table(yt[ho], pt[ho], t, n_boot=0).value[['sensitivity', 'specificity', 'accuracy']]
                    out.append(dict(size=k, who=who, seed=r['seed'], n_site_normal=int((site & (yt == 0)).sum()),
                                    n_site_pneumonia=int((site & (yt == 1)).sum()), n_held_out=int(ho.sum()),
                                    promised=new_film_recall(yt[site], pt[site], t) if who != 'model' else np.nan,
                                    promised_sure=new_film_recall(yt[site], pt[site], t, a.confidence) if who != 'model' else np.nan,
                                    threshold=t, sensitivity=sens, specificity=spec, accuracy=acc))
    df = pd.DataFrame(out)
    q = lambda s, lo: np.percentile(s, 5 if lo else 95)
    rows = []
    for (k, who), g in df.groupby(['size', 'who'], sort=True):
        kerm = (g.accuracy >= KERMANY['accuracy']) & (g.sensitivity >= KERMANY['sensitivity']) & (g.specificity >= KERMANY['specificity'])
        rows.append({'films per class (site)': k, 'threshold from': who,
                     'site films N / P': f"{g.n_site_normal.median():.0f} / {g.n_site_pneumonia.median():.0f}",
                     'held-out films': f"{g.n_held_out.median():.0f}",
                     'threshold (median)': f"{g.threshold.median():.3f}",
                     'promised recall': '' if g.promised.isna().all() else f"{g.promised.mean():.3f}",
                     f'promised, {a.confidence:.0%} sure': '' if g.promised_sure.isna().all() else f"{g.promised_sure.mean():.3f}",
                     'sensitivity mean [5%, 95%]': f"{g.sensitivity.mean():.3f} [{q(g.sensitivity, 1):.3f}, {q(g.sensitivity, 0):.3f}]",
                     'specificity mean [5%, 95%]': f"{g.specificity.mean():.3f} [{q(g.specificity, 1):.3f}, {q(g.specificity, 0):.3f}]",
                     'accuracy mean': f"{g.accuracy.mean():.3f}",
                     'sensitivity < 0.90': f"{(g.sensitivity < 0.90).mean():.1%}",
                     'sensitivity < 0.95': f"{(g.sensitivity < 0.95).mean():.1%}",
                     'Kermany all three': f"{kerm.mean():.1%}"})
    with pd.option_context('display.width', 250, 'display.max_columns', 20):
        print(pd.DataFrame(rows).to_string(index=False))

if __name__ == '__main__': main()
