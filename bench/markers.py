#!/usr/bin/env python
"""Are burned-in markers a cue? Paint side markers and text onto validation films and see whether the scores move.

    python bench/markers.py --data ../shared/data/chest_xray --split-seed 42 outputs/run/model [more]

The test set's most confidently flagged normal films often carry large side markers ("R") and printed text
("KV59"), as many training pneumonia films do. If the model had learnt those marks as a sign of pneumonia, painting
them onto the validation children's films (white, in PIL's bundled font) would raise the normal films' scores.
For each model folder and each kind of mark, prints validation AUC and, per class, the median probability of
PNEUMONIA and the share flagged at the model's own threshold. Only validation films are used. Not a test: run by hand.
"""
import random, time
import numpy as np
from PIL import ImageDraw, ImageFont
from sklearn.metrics import roc_auc_score
from pneumo_nb.scrub import open_xray
from pneumo_nb.obtain import index_images
from pneumo_nb.model import load_model
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

def mark(im, text:str, height:float, where:str, seed:int=0):
    "A copy of the grayscale `im` with `text` painted in white, `height` a fraction of the film's height, at `where`."
    im = im.convert('L'); w, h = im.size
    font = ImageFont.load_default(size=max(8, int(height*h)))
    d = ImageDraw.Draw(im); l, t, r, b = d.textbbox((0, 0), text, font=font)
    x, y = {'top left': (0.05*w, 0.08*h), 'top right': (0.95*w-(r-l), 0.08*h), 'mid left': (0.03*w, 0.45*h)}.get(where, (None, None))
    if x is None: rng = random.Random(seed); x, y = rng.uniform(0, max(1, w-(r-l))), rng.uniform(0, max(1, h-(b-t)))
    d.text((int(x)-l, int(y)-t), text, fill=255, font=font)
    return im

MARKS = {'none': None, 'R, 8%, top left': ('R', .08, 'top left'), 'R, 8%, top right': ('R', .08, 'top right'),
         'R, 12%, mid left': ('R', .12, 'mid left'), 'KV59, 5%, top right': ('KV59', .05, 'top right'),
         'R, 8%, anywhere': ('R', .08, 'anywhere')}

def main():
    ap = model_parser(__doc__)
    args = ap.parse_args()
    idx = index_images(args.data)
    for path in args.models:
        t0 = time.time(); m = load_model(path)
        _, va, _, y, _ = splits(m, idx, args.split_seed); y = y.astype(bool)
        ims = [open_xray(p) for p in va.path]
        print(f"{path}: {len(va)} validation films, threshold {m.threshold:.3f}", flush=True)
        for name, mk in MARKS.items():
            p = m.predict([im if mk is None else mark(im, *mk, seed=i) for i, im in enumerate(ims)], tta=False, progress=False).prob_pneumonia.values
            print(f"  {name:20s} AUC {roc_auc_score(y, p):.4f}  normal: median {np.median(p[~y]):.3f} flagged {np.mean(p[~y] >= m.threshold):.3f}"
                  f"  pneumonia: median {np.median(p[y]):.3f} flagged {np.mean(p[y] >= m.threshold):.3f}", flush=True)
        print(f"  ({time.time()-t0:.0f} s)", flush=True)

if __name__ == '__main__': main()
