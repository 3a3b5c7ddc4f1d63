#!/usr/bin/env python
"""Threshold rules compared on saved probabilities: each rule chooses its threshold on validation, the test set is scored once.

    python bench/rules.py bench/results/search/runs.jsonl [--recalls 0.95,0.90] [--configs frame,framebn] [--hindsight] [--ensemble]

Reads the runs that bench/search.py wrote (each keeps its validation and test probabilities), so no model is
trained or loaded. For every run and every rule ('recall' at each target of `--recalls`, the default's 0.95 first,
and 'f1', the highest F1 on validation) it applies `choose_threshold` to the validation probabilities, then
`metrics_table` to the test probabilities at that threshold, exactly as `train` and `evaluate` do. Prints one row per
run and rule, then the mean and standard deviation over the seeds of each configuration. Test labels are used to
score, never to choose. Not a test: run by hand.

`--hindsight` adds rows per run whose thresholds ARE chosen on the test labels, as ceilings, never as rules: the
highest threshold that keeps each recall target of `--recalls` on the test set (the validation rule carried over
perfectly), the same for Kermany et al.'s sensitivity (0.932), and the threshold of best test accuracy. It then
counts, per configuration, the runs for which some threshold meets Kermany et al.'s accuracy, sensitivity and
specificity at once. They tell how far the ranking a model learnt could go if its operating point carried over
perfectly, so that a shortfall can be put down to the ranking or to the threshold: where no threshold meets the
figures, no threshold rule can.
"""
import argparse, json
import numpy as np, pandas as pd
from sklearn.metrics import roc_curve
from pneumo_nb.model import choose_threshold, metrics_table

KEYS = ['accuracy', 'sensitivity', 'specificity', 'f1_macro', 'roc_auc']

KERMANY_SENSITIVITY = 0.932
KERMANY = dict(accuracy=0.928, sensitivity=0.932, specificity=0.901)   # Kermany et al. 2018 on this test set (and AUC 0.968)

def best_accuracy_threshold(y, p):
    "The threshold of highest accuracy on (y, p), the highest of any tied (fewest alarms): hindsight, when y is the test set's."
    cuts = np.unique(p)
    acc = np.array([((p >= c) == (y == 1)).mean() for c in cuts])
    return float(cuts[np.flatnonzero(acc == acc.max())[-1]])

def kermany_thresholds(y, p):
    "Every threshold at which (y, p) meets Kermany et al.'s accuracy, sensitivity and specificity at once: hindsight, when y is the test set's."
    fpr, sens, cuts = roc_curve(y, p, drop_intermediate=False)   # every threshold: PNEUMONIA when p >= cut
    spec = 1 - fpr
    acc = (sens * (y == 1).sum() + spec * (y == 0).sum()) / len(y)
    ok = (acc >= KERMANY['accuracy']) & (sens >= KERMANY['sensitivity']) & (spec >= KERMANY['specificity'])
    return cuts[ok]

def rows(run, recalls, hindsight=False):
    "One row per rule for one run of bench/search.py: the rule, its threshold (validation's unless hindsight) and the test metrics there."
    yv, pv, yt, pt = (np.asarray(run[k]) for k in ('yv', 'pv', 'yt', 'pt'))
    rules = [(f'recall {r:g}', dict(rule='recall', target_recall=r)) for r in recalls] + [('f1', dict(rule='f1'))]
    if hindsight: rules += ([(f'hindsight: test sensitivity {r:g}', ('sens', r)) for r in recalls] +
                            [(f'hindsight: test sensitivity {KERMANY_SENSITIVITY}', ('sens', KERMANY_SENSITIVITY)),
                             ('hindsight: best test accuracy', 'acc')])
    for name, kw in rules:
        if isinstance(kw, tuple): thr = choose_threshold(yt, pt, target_recall=kw[1])      # chosen on the TEST labels
        elif kw == 'acc': thr = best_accuracy_threshold(yt, pt)                               # chosen on the TEST labels
        else: thr = choose_threshold(yv, pv, **kw)
        mt = metrics_table(yt, pt, thr, n_boot=0).value
        yield dict(config=run['name'], seed=run['seed'], rule=name, threshold=round(thr, 4),
                   val_recall=round(float(((pv >= thr) & (yv == 1)).sum() / (yv == 1).sum()), 4),
                   val_specificity=round(float(((pv < thr) & (yv == 0)).sum() / (yv == 0).sum()), 4),
                   normals_flagged=int(((pt >= thr) & (yt == 0)).sum()), pneumonias_missed=int(((pt < thr) & (yt == 1)).sum()),
                   **{k: round(float(mt[k]), 4) for k in KEYS})

def averaged(runs, name):
    "A pseudo-run whose probabilities are the mean of `runs`' (which must have scored the same films, in the same order)."
    first = runs[0]
    for r in runs[1:]:
        for k in ('val_names', 'test_names', 'yv', 'yt'):
            if r[k] != first[k]: raise SystemExit(f"cannot average {r['name']} seed {r['seed']} with {first['name']} seed {first['seed']}: "
                                                  f"their {k} differ (another patient split or data)")
    return dict(name=name, seed='+'.join(str(r['seed']) for r in runs), yv=first['yv'], yt=first['yt'],
                pv=np.mean([r['pv'] for r in runs], 0), pt=np.mean([r['pt'] for r in runs], 0))

def ensembles(runs):
    "Averaged pseudo-runs: one per configuration with two runs or more, and one of every run when there are several configurations."
    by = {}
    for r in runs: by.setdefault(r['name'], []).append(r)
    out = [averaged(rs, f"{n} (mean of {len(rs)})") for n, rs in by.items() if len(rs) > 1]
    if len(by) > 1: out.append(averaged(runs, f"{'+'.join(by)} (mean of {len(runs)})"))
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='runs.jsonl files written by bench/search.py')
    ap.add_argument('--recalls', default='0.95', help="comma-separated recall targets for the 'recall' rule (0.95: the default)")
    ap.add_argument('--configs', help='only these configurations (comma-separated)')
    ap.add_argument('--hindsight', action='store_true', help='add thresholds chosen on the test labels, as ceilings (never rules)')
    ap.add_argument('--ensemble', action='store_true', help="add each configuration's runs averaged, and all runs averaged")
    args = ap.parse_args()
    recalls = [float(r) for r in args.recalls.split(',')]
    runs = [json.loads(l) for f in args.runs for l in open(f) if l.strip()]
    if args.configs: runs = [r for r in runs if r['name'] in args.configs.split(',')]
    if not runs: ap.error('no runs to compare')
    if args.ensemble: runs = runs + ensembles(runs)
    df = pd.DataFrame([r for run in runs for r in rows(run, recalls, args.hindsight)])
    pd.set_option('display.width', 200)
    print(df.to_string(index=False))
    g = df.groupby(['config', 'rule'], sort=False)
    cols = KEYS + ['threshold', 'normals_flagged', 'pneumonias_missed']
    mean, std = g[cols].mean(), g[cols].std()   # std over seeds (n - 1); NaN for one seed
    fmt = lambda c: '.1f' if c in ('normals_flagged', 'pneumonias_missed') else '.3f'
    summ = pd.DataFrame({c: [f"{a:{fmt(c)}} ± {b:{fmt(c)}}" if b == b else f"{a:{fmt(c)}}" for a, b in zip(mean[c], std[c])]
                         for c in cols}, index=mean.index)
    print("\nmean ± standard deviation over seeds")
    print(summ.assign(seeds=g.seed.nunique()).to_string())
    if args.hindsight:   # can ANY threshold meet Kermany et al.'s figures? If not, no threshold rule can: the ranking must improve
        reach = pd.DataFrame([dict(config=r['name'], seed=r['seed'], thresholds=len(kermany_thresholds(np.asarray(r['yt']), np.asarray(r['pt']))))
                              for r in runs])
        print(f"\nhindsight: runs with some threshold meeting Kermany et al.'s accuracy {KERMANY['accuracy']}, sensitivity "
              f"{KERMANY['sensitivity']} and specificity {KERMANY['specificity']} at once on the test set")
        print(reach.groupby('config', sort=False).agg(runs=('seed', 'size'), reachable=('thresholds', lambda t: int((t > 0).sum()))).to_string())

if __name__ == '__main__': main()
