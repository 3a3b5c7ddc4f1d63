#!/usr/bin/env python
"""Test-time resolution of saved models (the FixRes question): score validation and test at other input sizes.

    python bench/resolution.py --data ../shared/data/chest_xray --sizes 160,192,224 --split-seed 42 outputs/run/model [more]

Training zooms films in and out (0.7 to 1.6, `xray_augmentations`), so the lungs the network learnt from were on
average larger than at prediction time; Touvron et al. (2019) found that predicting at a higher resolution than
training corrects such a mismatch. For each model folder and size, the model's own weights predict the validation
children of its split (`training_split`) and the official test set; the threshold is chosen again on validation
by the model's own rule, then applied to the test set. Prints validation AUC, the threshold, and test accuracy,
sensitivity, specificity and AUC. Not a test: run by hand.
"""
import time
from pneumo_nb.obtain import index_images
from pneumo_nb.model import load_model, choose_threshold, metrics_table
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

def main():
    ap = model_parser(__doc__)
    ap.add_argument('--sizes', default='160,192,224', help='comma-separated input sizes, pixels')
    args = ap.parse_args()
    idx = index_images(args.data)
    for path in args.models:
        m = load_model(path); trained = m.size
        _, va, te, yv, yt = splits(m, idx, args.split_seed)
        print(f"{path}: {m.meta['arch']}, trained at {trained} px", flush=True)
        for s in map(int, args.sizes.split(',')):
            t0 = time.time(); m.meta['size'] = s   # `to_tensor` squashes every film to this side
            pv, pt = (m.predict(rows, progress=False).prob_pneumonia.values for rows in (va, te))
            t = choose_threshold(yv, pv, m.meta['threshold_rule'], m.meta['target_recall'])
            v, r = metrics_table(yv, pv, t, n_boot=0).value, metrics_table(yt, pt, t, n_boot=0).value
            print(f"  {s:4d} px  validation AUC {v['roc_auc']:.4f}  thr {t:.3f}  test acc {r['accuracy']:.3f}  sens {r['sensitivity']:.3f}"
                  f"  spec {r['specificity']:.3f}  AUC {r['roc_auc']:.3f}  ({time.time()-t0:.0f} s)", flush=True)

if __name__ == '__main__': main()
