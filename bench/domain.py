#!/usr/bin/env python
"""Can a generic network tell the test set's films from training's, class by class? A domain check at 160 px.

    python bench/domain.py --data ../shared/data/chest_xray [--n 234] [--seed 42]

On the full-size originals, every training NORMAL film was saved by Photoshop while the training PNEUMONIA films and
the test films of both classes are plain libjpeg files (`writer_shortcuts`, 02_scrub). The shared copy squashed them
all to 224 px and re-encoded them alike, so is any of that difference left in the pixels a network sees? This
script takes ImageNet EfficientNet-Lite0 features (frozen, pooled, 160 px squashed films as the model sees them) and
asks a logistic regression, with 5-fold cross-validation, to tell two groups of films apart, `--n` films from each:

- training NORMAL against test NORMAL: written by different programs (and a separate block of children);
- training PNEUMONIA against test PNEUMONIA: written by the same program (and a separate block of children too);
- training NORMAL against training NORMAL, children split in two halves: the control, near 0.5;
- training NORMAL against training PNEUMONIA: the disease, for scale.

It prints the cross-validated ROC AUC (mean and spread over the folds) for each pair, repeated over three draws of
the films. With `--originals`, it then asks whether the writer carries that difference: a regression fitted on the
shared copies to tell training normals from test normals (every training normal but the originals' 45) scores the
45 training normals' originals squashed to 224 px here as they were (`copy`) and after re-saving them at libjpeg
quality 75 first (`q75`), the test normals' writer, beside the 8 test normals' originals squashed the same way. If
the writer carried the difference, `q75` would move the training normals towards the test normals. With `--zoom`,
a regression fitted on 400 training normals and half the test normals (class-balanced) scores the held-out films of
both groups shrunk (0.85) or cropped tighter (1.15, 1.3) about their centre: if framing carries the difference, a
tighter crop moves training normals towards the test normals more than a looser one. If the normals' pair separates
much better than the pneumonias' pair, what the test normals do not share with training's is visible to a network that
never saw this data; `--originals` and `--zoom` ask what carries it. A diagnosis that reads the test labels; nothing here chooses a model or a threshold. Not a test: run by hand.
"""
import argparse, functools, time
from pathlib import Path
import numpy as np, pandas as pd, torch, timm
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from pneumo_nb.obtain import index_images, data_dir
from pneumo_nb.scrub import open_xray
from pneumo_nb.model import lite_state_dict
from pneumo_nb.interpret import reframe   # the framing check's own re-framing
from jpeg import jpeg, squash             # bench/jpeg.py: the originals squashed as the shared copy was

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

@functools.cache
def _lite0():
    "ImageNet EfficientNet-Lite0 without its classifier, built once."
    net = timm.create_model('efficientnet_lite0', pretrained=False, num_classes=0)
    net.load_state_dict(lite_state_dict(net), strict=False)
    return net.eval()

def features(items, size=160, bs=64):
    "Pooled ImageNet EfficientNet-Lite0 features of each film (paths or PIL images), squashed to `size` as the model sees it."
    net, out = _lite0(), []
    with torch.inference_mode():
        for i in range(0, len(items), bs):
            ims = [open_xray(p).resize((size, size), Image.Resampling.BILINEAR) for p in items[i:i+bs]]   # as `PneumoModel.to_tensor`
            x = torch.stack([torch.from_numpy(np.asarray(im, dtype=np.float32)/255.).permute(2, 0, 1) for im in ims])
            out.append(net((x - MEAN)/STD).numpy())
    return np.concatenate(out)

def separability(fa, fb, seed):
    "Cross-validated ROC AUC of a logistic regression telling the rows of `fa` from those of `fb`."
    X, y = np.concatenate([fa, fb]), np.r_[np.zeros(len(fa)), np.ones(len(fb))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    s = cross_val_score(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed), scoring='roc_auc')
    return s.mean(), s.std()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', help='the 224x224 copy (default: $PNEUMO_DATA)')
    ap.add_argument('--n', type=int, default=234, help='films drawn from each group (the test set has 234 normals)')
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--originals', help='the chest_xray_originals folder, for the writer test')
    ap.add_argument('--zoom', action='store_true', help='also run the framing test')
    a = ap.parse_args()
    t0 = time.time()
    df = index_images(data_dir(a.data))
    g = {k: df[(df.split == s) & (df.label == l)] for k, (s, l) in
         dict(trN=('train', 'NORMAL'), teN=('test', 'NORMAL'), trP=('train', 'PNEUMONIA'), teP=('test', 'PNEUMONIA')).items()}
    rng = np.random.default_rng(a.seed)
    need = pd.concat([g['teN'], g['teP'], g['trN'], g['trP'].sample(min(len(g['trP']), 4*a.n), random_state=a.seed)])
    f = dict(zip(need.path, features(list(need.path))))
    F = lambda rows: np.stack([f[p] for p in rows.path])
    rows = []
    for rep in range(3):
        s = a.seed + rep
        pick = lambda d: d.sample(min(len(d), a.n), random_state=s)
        pats = np.array(g['trN'].patient.unique(), dtype=object); rng.shuffle(pats); half = set(pats[:len(pats)//2])
        trN = g['trN']; h1, h2 = trN[trN.patient.isin(half)], trN[~trN.patient.isin(half)]
        trP = g['trP'][g['trP'].path.isin(f)]
        pairs = {'train NORMAL vs test NORMAL (different writers)': (pick(trN), pick(g['teN'])),
                 'train PNEUMONIA vs test PNEUMONIA (same writer)': (pick(trP), pick(g['teP'])),
                 'train NORMAL, two halves of the children (control)': (pick(h1), pick(h2)),
                 'train NORMAL vs train PNEUMONIA (the disease)': (pick(trN), pick(trP))}
        for name, (x, y) in pairs.items():
            m, sd = separability(F(x), F(y), s)
            rows.append(dict(pair=name, draw=rep, films=f'{len(x)} + {len(y)}', auc=m, fold_sd=sd))
    r = pd.DataFrame(rows)
    pd.set_option('display.width', 200)
    print(r.groupby('pair', sort=False).agg(films=('films', 'first'), auc_mean=('auc', 'mean'), auc_min=('auc', 'min'),
                                            auc_max=('auc', 'max'), fold_sd=('fold_sd', 'mean')).round(3).to_string())
    if a.originals: writer_test(a.originals, g, F)
    if a.zoom: zoom_test(g, a.seed)
    print(f'{time.time() - t0:.0f} s')

def zoom_test(g, seed):
    "Score held-out training and test normals, re-framed, with a train-NORMAL-vs-test-NORMAL regression."
    trN = g['trN'].sample(600, random_state=seed); teN = g['teN']
    te_fit = teN.sample(len(teN)//2, random_state=seed); te_ho = teN.drop(te_fit.index)
    tr_fit, tr_ho = trN.iloc[:400], trN.iloc[400:]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, class_weight='balanced'))
    clf.fit(np.concatenate([features(list(tr_fit.path)), features(list(te_fit.path))]), np.r_[np.zeros(len(tr_fit)), np.ones(len(te_fit))])
    rows = []
    for name, d in [('training normals', tr_ho), ('test normals', te_ho)]:
        for z in (0.85, 1.0, 1.15, 1.3):
            p = clf.predict_proba(features([reframe(q, z) for q in d.path]))[:, 1]
            rows.append(dict(films=f'{name}, held out ({len(d)})', zoom=z, median=np.median(p), mean=p.mean()))
    print(f"\nP(test normal), regression on {len(tr_fit)} training and {len(te_fit)} test normals, films re-framed:")
    print(pd.DataFrame(rows).pivot(index='films', columns='zoom', values='median').round(3).to_string())

def writer_test(originals, g, F):
    "Score originals squashed here, as written and re-saved at q75, with a train-NORMAL-vs-test-NORMAL regression."
    o = Path(originals)
    trO, teO = sorted(o.glob('train/NORMAL/*.jp*g')), sorted(o.glob('test/NORMAL/*.jp*g'))
    names, te_names = {p.name for p in trO}, {p.name for p in teO}
    trN = g['trN'][~g['trN'].path.map(lambda p: Path(p).name in names)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    teN = g['teN'][~g['teN'].path.map(lambda p: Path(p).name in te_names)]
    clf.fit(np.concatenate([F(trN), F(teN)]), np.r_[np.zeros(len(trN)), np.ones(len(teN))])
    score = lambda ims: clf.predict_proba(features(ims))[:, 1]
    tr_im = [Image.open(p).convert('L') for p in trO]
    res = {'training normals, shared copy': clf.predict_proba(F(g['trN'][g['trN'].path.map(lambda p: Path(p).name in names)]))[:, 1],
           'training normals, squashed here (copy)': score([squash(im) for im in tr_im]),
           'training normals, re-saved at q75 first (q75)': score([squash(jpeg(im, 75)) for im in tr_im]),
           'test normals, squashed here (held out of the fit)': score([squash(Image.open(p).convert('L')) for p in teO])}
    print(f"\nP(test normal) from a regression on {len(trN)} training and {len(teN)} test normals (shared copies):")
    print(pd.DataFrame({k: dict(films=len(v), median=np.median(v), mean=np.mean(v)) for k, v in res.items()}).T.round(3).to_string())

if __name__ == '__main__': main()
