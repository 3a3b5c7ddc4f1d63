#!/usr/bin/env python
"""Benchmark pneumo_nb on the real data: quality and cost of the default model, beside a plain PyTorch loop.

Prints one table and writes it as JSON. Not a test: run it by hand, on a quiet machine.

    python bench/run.py --data ../shared/data/chest_xray --seeds 3 --out bench/results
    python bench/run.py --data ../shared/data/chest_xray --model outputs/run/model    # cost of a saved model only

Measures, for the default configuration (`pneumo_nb.model.train` defaults): training wall time, CPU time and
images/s; inference images/s in batches and single-image latency; data-loading images/s on its own; peak
resident memory; and the official-test metrics at the validation-chosen threshold. With `--model`, no training:
inference, latency, loading and memory of that saved model, and its test metrics. The plain PyTorch reference
trains the same network (timm efficientnet_lite0, same offline ImageNet weights), same input size, same epochs,
same images and patient split, with torchvision transforms and a hand-written loop.
"""
import argparse, json, os, platform, resource, subprocess, time, datetime
from pathlib import Path
import numpy as np, pandas as pd, torch

from pneumo_nb.core import get_device, seed_everything, POSITIVE, DISCLAIMER
from pneumo_nb.obtain import index_images
from pneumo_nb.scrub import split_by_patient, class_weights
from pneumo_nb.model import train, load_model, evaluate, choose_threshold, metrics_table, xray_dataloaders, lite_state_dict
import pneumo_nb

METRICS = ['accuracy', 'sensitivity', 'specificity', 'f1_macro', 'roc_auc']

def peak_rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024

def cpu_s(): t = os.times(); return t.user + t.system

def bench_pneumo(df, seed, args, dev):
    "Train the default configuration once; time it; score the test set."
    w0, c0 = time.time(), cpu_s()
    m = train(df, seed=seed, cpu=dev.type == 'cpu', progress=False, **({'subset': args.subset} if args.subset else {}))
    wall, cpu = time.time()-w0, cpu_s()-c0
    n_seen = m.meta['training']['n_train'] * (m.meta['training']['epochs'] + m.meta['training']['freeze_epochs'])
    ev = evaluate(m, df, split='test', n_boot=0)
    return m, dict(train_wall_s=wall, train_cpu_s=cpu, train_img_s=n_seen/wall, threshold=m.threshold,
                   val_auc=m.meta['val_metrics']['roc_auc'], **{f'test_{k}': v for k,v in ev.summary().items() if k in METRICS})

def bench_inference(m, df, args):
    "Batched throughput over the test split (decode included) and single-image latency."
    test = df[df.split == 'test'].path.tolist()
    m.predict(test[:64], progress=False)                      # warm-up
    t = time.time(); m.predict(test, bs=64, progress=False); batched = len(test)/(time.time()-t)
    lat = []
    for p in test[:30]:
        t = time.time(); m.predict([p], progress=False); lat.append(time.time()-t)
    return dict(infer_img_s=batched, latency_ms_median=1000*float(np.median(lat)))

def bench_loading(df, args, dev):
    "Images/s of the training DataLoader alone (decode, resize, augment, normalise), no model."
    dls = xray_dataloaders(df, size=160, bs=32, device=dev)
    n, t = 0, time.time()
    for i, (xb, yb) in enumerate(dls.train):
        n += len(xb)
        if i >= 40: break
    return dict(load_img_s=n/(time.time()-t))

# ---- the plain PyTorch reference -------------------------------------------------------------------------
class Images(torch.utils.data.Dataset):
    def __init__(self, paths, labels, tfm): self.paths, self.labels, self.tfm = list(paths), list(labels), tfm
    def __len__(self): return len(self.paths)
    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.paths[i]) as im: x = self.tfm(im.convert('RGB'))
        return x, self.labels[i]

def plain_pytorch(df, seed, args, dev, size=160, bs=32, epochs=3, lr=1e-3):
    "Same network, size, epochs and data; torchvision transforms; a hand-written AdamW + one-cycle loop."
    import timm, torchvision.transforms as T
    seed_everything(seed)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tr_tfm = T.Compose([T.Resize((size, size)), T.RandomAffine(15, scale=(0.7, 1.6), fill=0), T.ColorJitter(0.4, 0.4), T.ToTensor(), norm])
    ev_tfm = T.Compose([T.Resize((size, size)), T.ToTensor(), norm])
    tr = df[(df.split == 'train') & ~df.is_valid]; va = df[df.is_valid]; te = df[df.split == 'test']
    if args.subset: tr = tr.groupby('label').sample(args.subset, random_state=seed)
    y = lambda d: (d.label == POSITIVE).astype(int).tolist()
    dl = torch.utils.data.DataLoader(Images(tr.path, y(tr), tr_tfm), bs, shuffle=True, drop_last=True)
    net = timm.create_model('efficientnet_lite0', num_classes=0)
    net.load_state_dict(lite_state_dict(net))
    net.reset_classifier(2)
    net = net.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs*len(dl))
    lossf = torch.nn.CrossEntropyLoss(weight=torch.tensor(class_weights(tr), dtype=torch.float32, device=dev))
    w0, c0 = time.time(), cpu_s()
    for ep in range(epochs):
        net.train()
        for xb, yb in dl:
            xb, yb = xb.to(dev, memory_format=torch.channels_last), yb.to(dev)
            loss = lossf(net(xb), yb); opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    wall, cpu = time.time()-w0, cpu_s()-c0
    @torch.inference_mode()
    def probs(d):
        net.eval(); out = []
        for xb, _ in torch.utils.data.DataLoader(Images(d.path, y(d), ev_tfm), 64):
            out.append(torch.softmax(net(xb.to(dev, memory_format=torch.channels_last)), 1)[:, 1].cpu())
        return torch.cat(out).numpy()
    pv = probs(va); thr = choose_threshold(np.array(y(va)), pv)
    t = time.time(); pt = probs(te); infer = len(te)/(time.time()-t)
    mt = metrics_table(np.array(y(te)), pt, thr, n_boot=0).value
    return dict(train_wall_s=wall, train_cpu_s=cpu, train_img_s=len(dl)*bs*epochs/wall, threshold=thr,
                infer_img_s=infer, **{f'test_{k}': float(mt[k]) for k in METRICS})

def hardware(dev):
    cpu = platform.processor() or platform.machine()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), device=str(dev),
                gpu=torch.cuda.get_device_name(0) if dev.type == 'cuda' else None)

def versions():
    import fastai, timm, sklearn
    try: commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                                 cwd=Path(__file__).parent).stdout.strip()
    except OSError: commit = None
    return dict(pneumo_nb=pneumo_nb.__version__, torch=torch.__version__, fastai=fastai.__version__, timm=timm.__version__,
                sklearn=sklearn.__version__, python=platform.python_version(), commit=commit)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='dataset folder (default: $PNEUMO_DATA, the cache, else download)')
    ap.add_argument('--seeds', type=int, default=1, help='seeds for the default configuration (mean and spread)')
    ap.add_argument('--plain-seeds', type=int, default=1, help='seeds for the plain PyTorch reference (0: skip it)')
    ap.add_argument('--subset', type=int, help='images per class (a quick check of the script, not a benchmark)')
    ap.add_argument('--plain-from', help='reuse the plain PyTorch rows of an earlier result JSON (same hardware) instead of rerunning them')
    ap.add_argument('--cpu', action='store_true', help='use the CPU even when a GPU is present')
    ap.add_argument('--out', default='bench/results', help='folder for the JSON')
    ap.add_argument('--save-model', help='save the first seed\'s model to this folder')
    ap.add_argument('--model', help='measure this saved model (a folder) instead of training: inference, latency, loading, memory')
    args = ap.parse_args()
    if args.model and args.save_model: ap.error('--model measures a saved model; --save-model saves a trained one: not both')
    dev = get_device(args.cpu)
    df = split_by_patient(index_images(args.data))
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    runs, m = [], None
    n_split = int(((df.split == 'train') & ~df.is_valid).sum())   # the films a full run trains on; `n_train` is what this one did
    if args.model:   # a saved model: no training, no plain reference
        m = load_model(args.model, cpu=args.cpu)
        ev = evaluate(m, df, split='test', n_boot=0)
        runs.append(dict(threshold=m.threshold, val_auc=m.meta['val_metrics']['roc_auc'],
                         **{f'test_{k}': v for k,v in ev.summary().items() if k in METRICS}))
        extra = {**bench_inference(m, df, args), **bench_loading(df, args, dev)}
        args.seeds, args.plain_seeds = 0, 0
    for s in range(args.seeds):
        m, r = bench_pneumo(df, 42+s, args, dev); r['seed'] = 42+s; runs.append(r)
        print(f"pneumo_nb seed {42+s}: " + ', '.join(f'{k}={v:.4g}' for k,v in r.items()), flush=True)
        if s == 0:
            extra = {**bench_inference(m, df, args), **bench_loading(df, args, dev)}
            if args.save_model: m.save(args.save_model)
    if args.plain_from:
        prev = json.loads(Path(args.plain_from).read_text())
        plain = [{**r, 'from': f"{args.plain_from} (commit {prev['meta']['versions']['commit']})"} for r in prev['plain_pytorch']]
    else: plain = []
    for s in range(0 if args.plain_from else args.plain_seeds):
        r = plain_pytorch(df, 42+s, args, dev); r['seed'] = 42+s; plain.append(r)
        print(f"plain PyTorch seed {42+s}: " + ', '.join(f'{k}={v:.4g}' for k,v in r.items()), flush=True)
    P = pd.DataFrame(runs)
    rows = {k: f"{P[k].mean():.4f} ± {P[k].std(ddof=1) if len(P) > 1 else 0:.4f}" for k in P if k != 'seed'}
    rows.update({k: f"{v:.4g}" for k,v in extra.items()})
    rows['peak_rss_MB'] = f"{peak_rss_mb():.0f}"
    if dev.type == 'cuda': rows['peak_gpu_MB'] = f"{torch.cuda.max_memory_allocated()/2**20:.0f}"
    table = pd.DataFrame({'pneumo_nb (default)': rows})
    if plain:
        Q = pd.DataFrame(plain).drop(columns='from', errors='ignore')
        table['plain PyTorch'] = pd.Series({k: f"{Q[k].mean():.4f}" for k in Q if k != 'seed'})
        table['ratio pneumo_nb / plain'] = pd.Series({k: f"{P[k].mean()/Q[k].mean():.2f}" for k in Q if k in P and k != 'seed'})
        if 'infer_img_s' in Q: table.loc['infer_img_s', 'ratio pneumo_nb / plain'] = f"{extra['infer_img_s']/Q.infer_img_s.mean():.2f}"
    meta = dict(started=started, model=args.model, plain_from=args.plain_from, hardware=hardware(dev), versions=versions(), seeds=[r['seed'] for r in runs if 'seed' in r], subset=args.subset,
                n_train_split=n_split, n_train=m.meta['training']['n_train'] if m is not None else (2*args.subset if args.subset else n_split),
                n_test=int((df.split == 'test').sum()),
                note=DISCLAIMER)
    print(json.dumps(meta, indent=1)); print(table.fillna('').to_string())
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    f = out/f"bench-{started[:19].replace(':', '')}.json"
    f.write_text(json.dumps(dict(meta=meta, pneumo_nb=runs, plain_pytorch=plain, extra=extra, table=table.fillna('').to_dict()), indent=1, default=float))
    print(f"written: {f}")

if __name__ == '__main__': main()
