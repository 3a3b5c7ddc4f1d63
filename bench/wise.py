#!/usr/bin/env python
"""Weight-space interpolation of fine-tuned models with their ImageNet starting point (WiSE-FT, Wortsman et al. 2022).

    python bench/wise.py --data ../shared/data/chest_xray --split-seed 42 --alphas 1,0.9,0.8,0.7,0.5 <model folders>

Fine-tuning the whole network fits the training hospital; WiSE-FT reported that averaging the fine-tuned weights with
the pretrained ones keeps much of the fit and gains robustness under distribution shift. For each saved model (body
fine-tuned from the same ImageNet weights `build_net` loads), and each `alpha`, the body's weights become
(1 - alpha) * ImageNet + alpha * fine-tuned; the fine-tuned head is kept (the ImageNet classifier has no PNEUMONIA
class). BatchNorm running statistics do not interpolate linearly, so every variant, alpha 1 included, has them
re-estimated on `--films` clean training films (`recalibrate_bn`, as `train(recalibrate=...)`), and the threshold
is chosen again on validation by the model's own rule. Prints validation AUC and the test figures at that threshold
for each alpha, and the model as trained for reference. The test labels only score; nothing is chosen on them.
Not a test: run by hand.
"""
import copy, time
import torch
from pneumo_nb.obtain import index_images
from pneumo_nb.model import PneumoModel, load_model, build_net, choose_threshold
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits
from sklearn.metrics import roc_auc_score
from adapt import scores, adapted, line   # bench/adapt.py: scoring, BatchNorm re-estimation on given films, one printed line

def mixed(m, start, alpha):   # copy of `m` whose body weights are (1 - alpha) `start`'s + alpha its own; head and BatchNorm statistics as they are
    c = PneumoModel(copy.deepcopy(m.net), copy.deepcopy(m.meta)); c.device = m.device
    ft, pre = c.net[0].state_dict(), start[0].state_dict()
    assert ft.keys() == pre.keys() and all(ft[k].shape == pre[k].shape for k in ft), "bodies differ"
    c.net[0].load_state_dict({k: (1-alpha)*pre[k] + alpha*v if v.is_floating_point() else v for k, v in ft.items()})
    return c

def main():
    ap = model_parser(__doc__)
    ap.add_argument('--alphas', default='1,0.9,0.8,0.7,0.5', help='comma-separated weights of the fine-tuned body')
    ap.add_argument('--films', type=int, default=1000, help='clean training films for the BatchNorm statistics')
    args = ap.parse_args()
    idx = index_images(args.data)
    for path in args.models:
        t0 = time.time(); m = load_model(path); tr = m.meta['training']
        fit, va, te, yv, yt = splits(m, idx, args.split_seed)
        films = fit.sample(min(args.films, len(fit)), random_state=tr['seed'])   # the same films `train(recalibrate=...)` and bench/adapt.py use
        torch.manual_seed(0); start = build_net(m.meta['arch'], pretrained=True, head=m.meta['head'])
        print(f"{path}: {m.meta['arch']} {m.size} px, seed {tr['seed']}, threshold {m.threshold:.3f}", flush=True)
        line(f'as trained (val AUC {roc_auc_score(yv, scores(m, va)):.4f})', yt, scores(m, te), m.threshold)
        for a in [float(s) for s in args.alphas.split(',')]:
            c = adapted(mixed(m, start, a), films)
            pv = scores(c, va); t = choose_threshold(yv, pv, m.meta['threshold_rule'], m.meta['target_recall'])
            line(f'alpha {a:.2f}, recalibrated (val AUC {roc_auc_score(yv, pv):.4f})', yt, scores(c, te), t)
        print(f"  ({time.time()-t0:.0f} s)", flush=True)

if __name__ == '__main__': main()
