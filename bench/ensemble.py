#!/usr/bin/env python
"""Average saved models into an ensemble, choose its threshold on their shared validation split, score the test set once.

    python bench/ensemble.py --data ../shared/data/chest_xray --split-seed 42 outputs/m42 outputs/m43 outputs/m44 [--out outputs/ens]

The models must have been trained on the same patient split (`train(..., split_seed=...)`, or bench/search.py, which
splits with seed 42: pass `--split-seed 42` for its models). Prints each member's (scored as its threshold was chosen)
and the ensemble's validation AUC, threshold and test metrics (accuracy, sensitivity, specificity, F1 macro, ROC AUC, with bootstrap 95% CIs for the
ensemble), and the time taken. `--out` saves the ensemble (a folder, written atomically). Not a test: run by hand.
"""
import time
from pneumo_nb.obtain import index_images
from pneumo_nb.model import load_model, ensemble, evaluate
from _common import model_parser   # bench/_common.py: the model scripts' arguments and splits

def main():
    ap = model_parser(__doc__, split_help="seed of the models' shared patient split, when they do not record it")
    ap.add_argument('--tta', action='store_true', help='choose the threshold on test-time-augmented probabilities')
    ap.add_argument('--out', help='save the ensemble to this folder')
    args = ap.parse_args()
    idx, t0 = index_images(args.data), time.time()
    keys = ['accuracy', 'sensitivity', 'specificity', 'f1_macro', 'roc_auc']
    ms = [load_model(p) for p in args.models]
    for p, m in zip(args.models, ms):
        te = evaluate(m, idx, n_boot=0).summary()   # as the member's threshold was chosen
        print(f"{p}: threshold {m.threshold:.3f}, val AUC {m.meta['val_metrics']['roc_auc']:.4f}; test "
              + ', '.join(f"{k} {te[k]:.3f}" for k in keys), flush=True)
    ens = ensemble(ms, idx, split_seed=args.split_seed, tta=args.tta)
    ev = evaluate(ens, idx)
    print(f"{ens!r}\n{ens.meta['training']['n_valid']} validation films; test set:\n{ev.metrics.loc[keys].round(3).to_string()}\n{ev.confusion}")
    if args.out: print(f"saved to {ens.save(args.out)}")
    print(f"{time.time()-t0:.0f} s", flush=True)

if __name__ == '__main__': main()
