#!/usr/bin/env python
"""Benchmark the two engines of a saved model side by side: PyTorch and its ONNX bundle on onnxruntime.

    python bench/deploy.py outputs/run/model --data ../shared/data/chest_xray

Exports the model to ONNX (into a temporary folder, unless `--onnx` names a bundle), then measures in one run, on
this machine: `predict` images/s on the official test films (decoding and resizing included, batches of 64) and on
the full-size originals beside the data, for both engines; the network alone on ready batches (the ceiling); the
largest difference between the two engines' probabilities; and the wall time of `pneumo predict` of one film in a
fresh process for each (imports included). Ratios are ONNX over PyTorch. The input pipeline's levers, same run: draft
decoding of the originals on and off (images/s, largest change of a probability, AUC on the originals' labels), and
worker processes against threads on the test films. Not a test: run it by hand, on a quiet machine.
"""
import argparse, json, subprocess, tempfile, time
from pathlib import Path
import numpy as np, torch
from sklearn.metrics import roc_auc_score
from pneumo_nb.obtain import index_images, data_dir
from pneumo_nb.model import load_model, export_onnx
from pneumo_nb.deploy import load_screener
from pneumo_nb.scrub import open_xray

def rate(f, n, reps=2):
    "Images/s of `f()` over `n` images: the best of `reps` runs (the first also warms up)."
    best = min(_timed(f) for _ in range(reps))
    return n/best

def _timed(f): t = time.perf_counter(); f(); return time.perf_counter() - t

def one_film(model, film):
    "Seconds for `pneumo predict` of one film in a fresh process."
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        subprocess.run(['pneumo', 'predict', film, '--model', str(model), '--out', f'{d}/p.csv'], check=True, capture_output=True)
        return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model', help='a saved PyTorch model folder')
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--onnx', help='its ONNX bundle, if already exported')
    ap.add_argument('--out', help='also write the figures to this JSON file')
    a = ap.parse_args()
    tm = load_model(a.model, cpu=True)
    tmp = tempfile.mkdtemp()
    t = time.perf_counter(); onnx = a.onnx or export_onnx(tm, Path(tmp)/'onnx'); export_s = time.perf_counter() - t
    om = load_screener(onnx, cpu=True)
    root = Path(data_dir(a.data))
    test = index_images(root).query("split == 'test'").path.tolist()
    od = index_images(root.parent/'chest_xray_originals') if (root.parent/'chest_xray_originals').is_dir() else None
    origs = [] if od is None else od.path.tolist()
    r = dict(model=str(a.model), threads=torch.get_num_threads(), export_s=round(export_s, 1), n_test=len(test), n_originals=len(origs))
    pt, po = tm.predict(test, progress=False), om.predict(test, progress=False)
    r['max_abs_diff'] = float(np.abs(pt.prob_pneumonia.values - po.prob_pneumonia.values).max())
    r['same_labels'] = bool((pt.label == po.label).all())
    for name, m in (('torch', tm), ('onnx', om)):
        r[f'{name}_predict_test_img_s'] = rate(lambda: m.predict(test, progress=False), len(test))
        r[f'{name}_predict_test_processes_img_s'] = rate(lambda: m.predict(test, processes=True, progress=False), len(test))
        if origs:
            for d, k in ((True, ''), (False, '_nodraft')):
                r[f'{name}_predict_originals{k}_img_s'] = rate(lambda: m.predict(origs*3, draft=d, progress=False), 3*len(origs), reps=1)
    if origs:
        y, (p1, p0) = (od.label == 'PNEUMONIA').values, (om.predict(origs, draft=d, progress=False).prob_pneumonia.values for d in (True, False))
        r.update(draft_max_abs_diff=float(np.abs(p1 - p0).max()), draft_mean_abs_diff=float(np.abs(p1 - p0).mean()),
                 originals_auc_draft=roc_auc_score(y, p1), originals_auc_nodraft=roc_auc_score(y, p0),
                 draft_label_changes=int(((p1 >= om.threshold) != (p0 >= om.threshold)).sum()))
    xs = np.stack([tm.to_array(im) for im in (open_xray(p) for p in test[:256])])
    batches = [xs[i:i+64] for i in range(0, len(xs), 64)]
    for name, m in (('torch', tm), ('onnx', om)):
        r[f'{name}_network_img_s'] = rate(lambda: [m._probs(b, False) for b in batches], len(xs))
    r['torch_one_film_s'], r['onnx_one_film_s'] = one_film(a.model, test[0]), one_film(onnx, test[0])
    for k in ('predict_test_img_s', 'predict_originals_img_s', 'network_img_s'):
        if f'torch_{k}' in r: r[f'ratio_{k}'] = r[f'onnx_{k}']/r[f'torch_{k}']
    for e in ('torch', 'onnx'):
        if origs: r[f'{e}_ratio_draft_originals'] = r[f'{e}_predict_originals_img_s']/r[f'{e}_predict_originals_nodraft_img_s']
        r[f'{e}_ratio_processes_test'] = r[f'{e}_predict_test_processes_img_s']/r[f'{e}_predict_test_img_s']
    for k, v in r.items(): print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    if a.out: Path(a.out).write_text(json.dumps(r, indent=2))

if __name__ == '__main__': main()
