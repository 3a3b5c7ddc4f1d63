#!/usr/bin/env python
"""Test-time augmentation of saved models: which views, averaged, rank validation and test better.

    python bench/tta.py --data ../shared/data/chest_xray --split-seed 42 outputs/run/model [more]

For each model folder, the model's own weights score the validation children of its split (`training_split`) and
the official test set under each view: the film as it is, rotated by +-5 degrees with black corners (as training's
rotations fill them), zoomed in 10% and 25%, and zoomed out to 80% inside a black border (what the framing
augmentation shows in training). Each set of views is averaged, the threshold is chosen again on validation by the
model's own rule and applied to the test set. 'rot+zoom' is the library's own `predict(tta=True)` (its rotations
leave the corners mid-grey), also scored at the threshold chosen without it, as `evaluate(tta=True)` did before
models recorded `tta`. With several models, their averaged probabilities are scored too (an ensemble). Prints validation AUC, the threshold, and test accuracy, sensitivity, specificity and
AUC. Not a test: run by hand.
"""
import time
import numpy as np, torch, torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF
from pneumo_nb.obtain import index_images
from pneumo_nb.model import load_model, choose_threshold, metrics_table
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

def _affine(x, m, s, angle=0., z=1.):
    "Rotate a normalised batch by `angle` and zoom it by `z` about its centre: in (z>1) crops, out (z<1) shrinks; black fills the border, as in training."
    return (TF.affine(x*s+m, angle=angle, translate=[0, 0], scale=z, shear=[0., 0.], fill=0.)-m)/s

VIEWS = {'id': None, 'tta': 'predict', 'rot+5b': (5., 1.), 'rot-5b': (-5., 1.), 'zoom1.1': (0., 1.1), 'zoom1.25': (0., 1.25),
         'zoom0.8': (0., 0.8)}   # 'tta': `predict(tta=True)`'s average, from the library itself
SETS = {'none': ['id'], 'rot+zoom': ['tta'], 'rotb+zoom': ['id', 'rot+5b', 'rot-5b', 'zoom1.1'],
        'frame': ['id', 'zoom0.8', 'zoom1.25'], 'id+out': ['id', 'zoom0.8'], 'all': ['id', 'rot+5b', 'rot-5b', 'zoom1.1', 'zoom1.25', 'zoom0.8']}

@torch.inference_mode()
def view_probs(m, rows):
    "Probability of PNEUMONIA for each row under each view: a dict view -> array."
    net = m.net.eval()
    mean, std = (torch.tensor(m.meta[k]).view(1, 3, 1, 1) for k in ('mean', 'std'))
    out = {k: [] for k in VIEWS}
    for x in m._batches(rows.path.tolist()):
        for k, v in VIEWS.items():
            if v == 'predict': out[k].append(m._forward(x, True)); continue
            xv = x if v is None else _affine(x, mean, std, *v)
            out[k].append(F.softmax(net(xv).float(), 1)[:, 1].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}

def score(m, yv, pv, yt, pt):
    t = choose_threshold(yv, pv, m.meta['threshold_rule'], m.meta['target_recall'])
    v, r = metrics_table(yv, pv, t, n_boot=0).value, metrics_table(yt, pt, t, n_boot=0).value
    return (f"validation AUC {v['roc_auc']:.4f}  thr {t:.3f}  test acc {r['accuracy']:.3f}  sens {r['sensitivity']:.3f}"
            f"  spec {r['specificity']:.3f}  AUC {r['roc_auc']:.3f}")

def main():
    ap = model_parser(__doc__)
    args = ap.parse_args()
    idx = index_images(args.data)
    allv, allt = [], []
    for path in args.models:
        t0 = time.time(); m = load_model(path)
        _, va, te, yv, yt = splits(m, idx, args.split_seed)
        pv, pt = view_probs(m, va), view_probs(m, te)
        print(f"{path}: {m.meta['arch']} at {m.size} px ({time.time()-t0:.0f} s)", flush=True)
        for name, views in list(SETS.items()) + [(k, [k]) for k in VIEWS if k not in ('id', 'tta')]:
            print(f"  {name:9s} {score(m, yv, np.mean([pv[k] for k in views], 0), yt, np.mean([pt[k] for k in views], 0))}", flush=True)
        r = metrics_table(yt, pt['tta'], m.threshold, n_boot=0).value   # what evaluate(tta=True) gave before models recorded `tta`
        print(f"  rot+zoom at the threshold chosen without it ({m.threshold:.3f}): test acc {r['accuracy']:.3f}  sens {r['sensitivity']:.3f}"
              f"  spec {r['specificity']:.3f}", flush=True)
        allv.append((va.path.values, pv)); allt.append(pt)
    if len(args.models) > 1:
        if any(len(p) != len(allv[0][0]) or (p != allv[0][0]).any() for p, _ in allv):
            print("ensemble skipped: the models were validated on different children"); return
        print(f"ensemble of {len(args.models)}:")
        for name, views in SETS.items():
            ev = np.mean([np.mean([pv[k] for k in views], 0) for _, pv in allv], 0)
            et = np.mean([np.mean([pt[k] for k in views], 0) for pt in allt], 0)
            print(f"  {name:9s} {score(m, yv, ev, yt, et)}", flush=True)

if __name__ == '__main__': main()
