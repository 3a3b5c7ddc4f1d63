#!/usr/bin/env python
"""Static int8 quantization of an ONNX bundle, measured against its fp32 graph in the same run.

    python bench/int8.py outputs/onnx --data ../shared/data/chest_xray --calib 256

Quantizes the bundle's graph with onnxruntime's static quantization (QDQ, int8 weights per channel, int8
activations), calibrated on `--calib` films of the train split (never the test films),
preprocessed exactly as `predict` does (a random sample of the train split; the test films are never seen). Then, on the official test films, for both graphs: `predict` images/s
(decoding included, batches of 64, best of two runs), the network alone on ready batches, ROC AUC, the largest
change of a probability and the labels that change at the model's threshold. int8 is worth offering only if the
AUC stays within 0.002 of fp32 and it is faster. Not a test: run it by hand, on a quiet machine.
"""
import argparse, json, shutil, tempfile, time
from pathlib import Path
import numpy as np
from sklearn.metrics import roc_auc_score
from pneumo_nb.obtain import index_images, data_dir
from pneumo_nb.deploy import load_onnx, file_hash, ONNX_FILE
from pneumo_nb.scrub import open_xray

def _timed(f): t = time.perf_counter(); f(); return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('bundle', help='an ONNX bundle folder (pneumo export MODEL --onnx OUT)')
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--calib', type=int, default=256, help='training films to calibrate on (default 256)')
    ap.add_argument('--method', default='minmax', choices=['minmax', 'entropy', 'percentile'], help='calibration method')
    ap.add_argument('--per-tensor', action='store_true', help='per-tensor weights instead of per-channel')
    ap.add_argument('--float-ends', action='store_true', help='leave the first and last convolutions and the classifier in fp32')
    a = ap.parse_args()
    from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType, CalibrationMethod
    from onnxruntime.quantization.shape_inference import quant_pre_process
    fp = load_onnx(a.bundle, cpu=True)
    idx = index_images(data_dir(a.data))
    tr, te = idx[idx.split == 'train'], idx[idx.split == 'test']
    calib = tr.sample(a.calib, random_state=0).path.tolist()   # training films only: none of them is scored below
    arrays = [fp.to_array(open_xray(p))[None] for p in calib]
    class Reader(CalibrationDataReader):
        def __init__(self): self.it = iter(arrays)
        def get_next(self): x = next(self.it, None); return None if x is None else {'image': x}
    out = Path(tempfile.mkdtemp(prefix='int8-'))
    try:
        shutil.copytree(a.bundle, out/'q', dirs_exist_ok=True)
        pre = out/'pre.onnx'
        t_pre = _timed(lambda: quant_pre_process(str(Path(a.bundle)/ONNX_FILE), str(pre)))
        import onnx
        nodes = onnx.load(str(pre)).graph.node
        convs = [n.name for n in nodes if n.op_type == 'Conv']
        keep = [convs[0], convs[-1], *(n.name for n in nodes if n.op_type == 'Gemm')] if a.float_ends else []
        t_q = _timed(lambda: quantize_static(str(pre), str(out/'q'/ONNX_FILE), Reader(), quant_format=QuantFormat.QDQ, nodes_to_exclude=keep,
                                             per_channel=not a.per_tensor, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                                             calibrate_method=getattr(CalibrationMethod, a.method.capitalize() if a.method != 'minmax' else 'MinMax')))
        meta = json.loads((out/'q'/'model.json').read_text()); meta['onnx']['sha256'] = file_hash(out/'q'/ONNX_FILE)
        (out/'q'/'model.json').write_text(json.dumps(meta))
        q = load_onnx(out/'q', cpu=True)
        y = (te.label == 'PNEUMONIA').astype(int).values
        res = {}
        x = np.concatenate([fp.to_array(open_xray(p))[None] for p in te.path[:64]])
        for name, m in (('fp32', fp), ('int8', q)):
            p = m.predict(te, progress=False).prob_pneumonia.values
            rate = len(te)/min(_timed(lambda: m.predict(te, progress=False)) for _ in range(2))
            net = 64*5/min(_timed(lambda: [m._probs(x, False) for _ in range(5)]) for _ in range(2))
            res[name] = dict(p=p, auc=roc_auc_score(y, p), rate=rate, net=net)
        d = np.abs(res['int8']['p'] - res['fp32']['p']); thr = fp.threshold
        flips = int(((res['int8']['p'] >= thr) != (res['fp32']['p'] >= thr)).sum())
        print(f"calibration: {len(calib)} training films, {a.method}, {'per-tensor' if a.per_tensor else 'per-channel'}"
              f"{', first and last convolutions and classifier in fp32' if keep else ''}; "
              f"pre-processing {t_pre:.1f} s, quantization {t_q:.1f} s")
        print(f"graph size: fp32 {(Path(a.bundle)/ONNX_FILE).stat().st_size/1e6:.1f} MB, int8 {(out/'q'/ONNX_FILE).stat().st_size/1e6:.1f} MB")
        for name in ('fp32', 'int8'):
            r = res[name]; print(f"{name}: predict {r['rate']:.1f} films/s, network alone {r['net']:.1f} films/s, test AUC {r['auc']:.4f}")
        print(f"int8 / fp32: predict {res['int8']['rate']/res['fp32']['rate']:.2f}x, network {res['int8']['net']/res['fp32']['net']:.2f}x; "
              f"AUC change {res['int8']['auc'] - res['fp32']['auc']:+.4f}; |dp| mean {d.mean():.4f}, max {d.max():.4f}; "
              f"{flips} of {len(te)} labels change at threshold {thr:.3f}")
        ok = abs(res['int8']['auc'] - res['fp32']['auc']) <= 0.002 and res['int8']['rate'] > res['fp32']['rate']
        print(f"verdict: {'worth offering' if ok else 'not worth offering'} (AUC within 0.002 and faster)")
    finally: shutil.rmtree(out, ignore_errors=True)

if __name__ == '__main__': main()
