#!/usr/bin/env python
"""Do softer texture and tighter framing, together, make a model flag healthy children? A causal check on saved models.

    python bench/texture.py --data ../shared/data/chest_xray --split-seed 42 outputs/run/model [more]

`bench/pixstats.py` found the test normals softer than training's (fewer gray levels, less fine noise and sharpness,
part of the way towards training's pneumonias) and the ones a model flags framed tighter, while among validation
normals framing hardly moves the score. One reading: in training, a tight frame with soft texture was nearly always a
pneumonia, so a test normal that has both is flagged. This script changes the two on films whose label is known and
watches the answer. Each validation film of the model's split, and each test normal, is scored as it is, re-framed
tighter (`reframe`, zoom `--zooms`), softened by a Gaussian blur of radius `--blurs` pixels (on the 224 px films
0.35 takes a validation normal's median sharpness, the variance of the Laplacian, from 152 to about the test normals'
133; 0.5 to about training pneumonias' 96), and both. For each model and condition it prints the median probability
of PNEUMONIA and the share flagged at the model's own threshold, for validation normals, validation pneumonias and
test normals. If the reading is right, blur and zoom together flag far more validation normals than either alone.
With `--flattens`, each film's vertical profile is also flattened by that fraction (every row's mean moved that
fraction of the way to the film's mean: 0.25 takes the spread of the row means, 16 for the normals a model clears, to
about 12, that of the test normals it flags), alone and with the other changes: if the flagged test normals' flatter
profile is what the model reads, flattening validation normals flags them too.
Test labels are read only to pick the test normals. A diagnosis: nothing here chooses a model or a threshold. Not a
test: run by hand.
"""
import itertools, time
import numpy as np, pandas as pd
from PIL import Image, ImageFilter
from pneumo_nb.core import POSITIVE
from pneumo_nb.obtain import index_images
from pneumo_nb.scrub import open_xray
from pneumo_nb.interpret import reframe
from pneumo_nb.model import load_model
from _common import model_parser, splits   # bench/_common.py: the model scripts' arguments and splits

def flatten(im, f):
    "`im` in 8-bit gray with each row's mean moved the fraction `f` of the way to the film's mean."
    a = np.asarray(im.convert('L'), dtype=np.float32); r = a.mean(1, keepdims=True)
    return Image.fromarray(np.clip(np.rint(a - f*(r - a.mean())), 0, 255).astype(np.uint8))

def view(im, zoom, blur, flat=0.):
    "`im` with its profile flattened by `flat` (0: not at all), re-framed at `zoom` (1: as it is), then blurred by `blur` pixels (0: not at all)."
    im = flatten(im, flat) if flat else im
    im = reframe(im, zoom) if zoom != 1 else im
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im

def main():
    ap = model_parser(__doc__)
    ap.add_argument('--zooms', default='1,1.3', help='comma-separated zooms (1: as taken)')
    ap.add_argument('--blurs', default='0,0.35,0.5', help='comma-separated Gaussian blur radii in pixels (0: none)')
    ap.add_argument('--flattens', default='0', help="comma-separated fractions by which each film's row means are pulled to its mean (0: none)")
    args = ap.parse_args()
    zooms, blurs = [float(z) for z in args.zooms.split(',')], [float(b) for b in args.blurs.split(',')]
    flats = [float(f) for f in args.flattens.split(',')]
    idx = index_images(args.data)
    rows = []
    for path in args.models:
        t0 = time.time(); m = load_model(path)
        _, va, te, _, _ = splits(m, idx, args.split_seed); te = te[te.label != POSITIVE]
        groups = {'validation normals': va[va.label != POSITIVE], 'validation pneumonias': va[va.label == POSITIVE], 'test normals': te}
        ims = {g: [open_xray(p) for p in d.path] for g, d in groups.items()}
        for z, b, f in itertools.product(zooms, blurs, flats):
            for g, films in ims.items():
                p = m.predict([view(im, z, b, f) for im in films], tta=False, progress=False).prob_pneumonia.values
                rows.append(dict(model=path, zoom=z, blur=b, flatten=f, films=g, median=np.median(p), flagged=np.mean(p >= m.threshold)))
        print(f"{path}: threshold {m.threshold:.3f}, {sum(map(len, ims.values()))} films, {time.time()-t0:.0f} s", flush=True)
    r = pd.DataFrame(rows)
    for what in ('flagged', 'median'):
        print(f"\n{'share flagged at the model threshold' if what == 'flagged' else 'median probability of PNEUMONIA'}, per model:")
        print(r.pivot_table(index=['films', 'zoom', 'blur', 'flatten'], columns='model', values=what).round(3).to_string())

if __name__ == '__main__': main()
