#!/usr/bin/env python
"""Is the fine-tuned head the weak part? The last layer of saved models refitted on their pooled features (DFR).

    python bench/dfr.py --data ../shared/data/chest_xray --split-seed 42 <model folders>

Kirichenko et al. (2022, "Last layer re-training is sufficient for robustness to spurious correlations") found that
fine-tuned networks often learn the features a shifted test set needs, and that only their last layer leans on the
wrong ones; refitting that layer on held-out films ("deep feature reweighting") recovered much of the lost accuracy.
Our default's head is one linear layer on the body's pooled 1280 features, so the check is cheap. For each saved
model this prints test accuracy, sensitivity, specificity and AUC, at a threshold chosen on validation by the model's
own rule (95% recall on PNEUMONIA), for:
- the head as trained;
- a logistic regression refitted on the training films' features (balanced classes; C the one with the highest
  validation AUC): is the end-to-end head worse than a plain refit of the same features?
- DFR: a logistic regression fitted on the validation films' features only (children the body never trained on),
  NORMAL / bacterial / viral films weighted equally, C by grouped cross-validation; its threshold is chosen on the
  out-of-fold validation probabilities, then the model refitted on all of validation scores the test set.
and, for each, the ceiling read with the test labels (specificity at 95% test sensitivity). The test labels only
score; nothing is chosen on them. Not a test: run by hand.
"""
import time
import numpy as np, torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.utils.class_weight import compute_sample_weight
from pneumo_nb.core import POSITIVE
from pneumo_nb.obtain import index_images
from pneumo_nb.model import load_model, choose_threshold, metrics_table
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

@torch.inference_mode()
def features(m, rows, bs=64):   # the body's pooled features and the trained head's probabilities, for the films of `rows`
    net = m.net.eval(); pool, head = net[1][:2], net[1][3]
    fs = [pool(net[0](x)).float() for x in m._batches(rows.path.tolist(), bs)]
    f = torch.cat(fs)
    return f.cpu().numpy(), torch.softmax(head(f), 1)[:, 1].cpu().numpy()

def hindsight(y, p, recall=.95):   # specificity at the threshold `choose_threshold` picks on the test labels themselves, as `bench/rules.py --hindsight` does: a ceiling
    return metrics_table(y, p, choose_threshold(y, p, target_recall=recall), n_boot=0).value['specificity']

def line(tag, y, p, t):
    r = metrics_table(y, p, t, n_boot=0).value
    print(f"  {tag:44s} thr {t:.3f}  acc {r['accuracy']:.3f}  sens {r['sensitivity']:.3f}  spec {r['specificity']:.3f}"
          f"  AUC {r['roc_auc']:.4f}  hindsight spec {hindsight(y, p):.3f}", flush=True)

def logreg(C, balanced=True): return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, class_weight='balanced' if balanced else None))

def oof(C, X, y, g, w, folds=5, seed=0):   # out-of-fold probabilities of a refit on validation, children kept within one fold
    p = np.zeros(len(y))
    for a, b in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(X, y, g):
        p[b] = logreg(C, False).fit(X[a], y[a], logisticregression__sample_weight=w[a]).predict_proba(X[b])[:, 1]
    return p

def main():
    ap = model_parser(__doc__)
    ap.add_argument('--Cs', default='0.001,0.01,0.1,1', help='inverse regularisation strengths tried (for the training refit, the one of highest validation AUC; for DFR, of highest out-of-fold validation AUC)')
    args = ap.parse_args()
    idx, Cs = index_images(args.data), [float(c) for c in args.Cs.split(',')]
    for path in args.models:
        t0 = time.time(); m = load_model(path)
        fit, va, te, yv, yt = splits(m, idx, args.split_seed)
        y = {'fit': (fit.label == POSITIVE).astype(int).values, 'va': yv, 'te': yt}
        (Xf, _), (Xv, pv), (Xt, pt) = features(m, fit), features(m, va), features(m, te)
        rule, rec = m.meta['threshold_rule'], m.meta['target_recall']
        print(f"{path}: {m.meta['arch']} {m.size} px, seed {m.meta['training']['seed']}; {len(fit)} training, {len(va)} validation, "
              f"{len(te)} test films; features in {time.time()-t0:.0f} s", flush=True)
        line(f'head as trained (val AUC {roc_auc_score(y["va"], pv):.4f})', y['te'], pt, choose_threshold(y['va'], pv, rule, rec))
        # refit on the training films' features; C by validation AUC
        fits = {C: logreg(C).fit(Xf, y['fit']) for C in Cs}
        pvs = {C: f.predict_proba(Xv)[:, 1] for C, f in fits.items()}
        aucs = {C: roc_auc_score(y['va'], p) for C, p in pvs.items()}
        C = max(aucs, key=aucs.get)
        line(f'refit on training, C {C:g} (val AUC {aucs[C]:.4f})', y['te'], fits[C].predict_proba(Xt)[:, 1],
             choose_threshold(y['va'], pvs[C], rule, rec))
        # DFR: fit on validation only, kinds balanced; C and threshold from out-of-fold probabilities
        g, w = va.patient.values, compute_sample_weight('balanced', va.kind.values)   # normal, bacterial, viral films weigh the same in all
        ps = {C: oof(C, Xv, y['va'], g, w) for C in Cs}
        aucs = {C: roc_auc_score(y['va'], p) for C, p in ps.items()}
        C = max(aucs, key=aucs.get)
        d = logreg(C, False).fit(Xv, y['va'], logisticregression__sample_weight=w)
        line(f'DFR on validation, C {C:g} (oof AUC {aucs[C]:.4f})', y['te'], d.predict_proba(Xt)[:, 1],
             choose_threshold(y['va'], ps[C], rule, rec))
        print(f"  ({time.time()-t0:.0f} s)", flush=True)

if __name__ == '__main__': main()
