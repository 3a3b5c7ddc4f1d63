#!/usr/bin/env python
"""Does the training normals' JPEG quality move the model? A causal check on the full-size originals.

    python bench/jpeg.py --originals ../shared/data/chest_xray_originals <model folder> [<model folder> ...]

On the 101 originals that ship with the data, every training NORMAL film was saved by Photoshop at a high quality
(libjpeg-equivalent 96, a "Generic Gray Profile" attached), while the training PNEUMONIA films and every test film,
NORMAL included, are plain libjpeg files at quality 75 (`jpeg_provenance` in 02_scrub, the table in 03_explore).
If the network had learnt the cleaner compression of the normals, a normal film re-saved at quality 75 would
score as more likely PNEUMONIA.
For each original this script scores, with each model:

- `shared`: the 224x224 copy in the shared data (what training and the test set use);
- `copy`: the original squashed to 224x224 here, the way the shared copy was made as closely as we can tell (PIL
  bilinear, re-encoded at quality 75: 2 grey levels from the shared copy on average), as the control;
- `q75`, `q50`: the original first re-saved at libjpeg quality 75 (as the pneumonias and the test set were) or 50,
  then squashed the same way.

It prints, per split, class and writer, the median probability of PNEUMONIA and the films flagged at the model's
threshold for each version, and the mean and largest change of the logit from `copy` to `q75`. A diagnosis on the
101 originals (the test films among them are read with their labels); nothing here chooses a model or a threshold.
Not a test: run by hand.
"""
import argparse, io
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from pneumo_nb.scrub import file_writer, jpeg_provenance
from pneumo_nb.model import load_model

def jpeg(im, quality):
    "`im` written as a libjpeg JPEG at `quality` and read back, in 8-bit grey."
    b = io.BytesIO(); im.save(b, 'JPEG', quality=quality); b.seek(0)
    return Image.open(b).convert('L')

def squash(im):
    "The original squashed to 224x224 as the shared copy was: bilinear (with PIL's antialiasing), re-encoded at quality 75."
    return jpeg(im.resize((224, 224), Image.Resampling.BILINEAR), 75).convert('RGB')

def logit(p): p = np.clip(p, 1e-7, 1 - 1e-7); return np.log(p/(1 - p))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('models', nargs='+', help='saved model folders')
    ap.add_argument('--originals', required=True, help='the chest_xray_originals folder')
    ap.add_argument('--shared', help='the 224x224 copy (default: chest_xray beside the originals)')
    a = ap.parse_args()
    orig = Path(a.originals); shared = Path(a.shared) if a.shared else orig.parent/'chest_xray'
    files = sorted(orig.glob('*/*/*.jp*g'))
    if not files: raise SystemExit(f'{orig}: no JPEG files under <split>/<label>/')
    rows, versions = [], {k: [] for k in ('shared', 'copy', 'q75', 'q50')}
    for f in files:
        rel = f.relative_to(orig)
        rows.append(dict(split=rel.parts[0], label=rel.parts[1], name=f.name, writer=file_writer(jpeg_provenance(f))))
        im = Image.open(f).convert('L')
        versions['shared'].append(shared/rel); versions['copy'].append(squash(im))
        versions['q75'].append(squash(jpeg(im, 75))); versions['q50'].append(squash(jpeg(im, 50)))
    meta = pd.DataFrame(rows)
    pd.set_option('display.width', 200)
    for folder in a.models:
        m = load_model(folder)
        df = meta.copy()
        for k, items in versions.items(): df[k] = m.predict(items).prob_pneumonia.to_numpy()
        df['dlogit'] = logit(df['q75']) - logit(df['copy'])
        g = df.groupby(['split', 'label', 'writer'])
        out = g.size().to_frame('films')
        for k in versions: out[f'median {k}'] = g[k].median().round(4)
        for k in versions: out[f'flagged {k}'] = g[k].apply(lambda s: int((s >= m.threshold).sum()))
        out['dlogit q75 mean'] = g.dlogit.mean().round(3); out['|dlogit| max'] = g.dlogit.apply(lambda s: s.abs().max()).round(3)
        print(f'\n{folder}: threshold {m.threshold:.3f}')
        print(out.to_string())

if __name__ == '__main__': main()
