"""Plumbing shared by the bench scripts that re-score saved models; a module, not a script.

`tools/bench_check.py` skips it (its name starts with `_`); the scripts import it as they import each other,
from their own folder.
"""
import argparse
from pneumo_nb.core import POSITIVE
from pneumo_nb.model import training_split

def model_parser(doc:str, # the script's docstring, shown by --help
                 split_help:str="seed of the models' patient split, when the caller made it (bench/search.py: 42)", # --split-seed's help
                )->argparse.ArgumentParser:
    "A parser holding the arguments of every script that re-scores saved models: model folders, `--data`, `--split-seed`."
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('models', nargs='+', help='model folders written by PneumoModel.save')
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--split-seed', type=int, help=split_help)
    return ap

def splits(m, # a loaded model
           idx, # the dataset's index (`index_images`)
           split_seed:int|None, # seed of its patient split, when it does not record it
          ):
    "The films `m` trained on, its validation films and the test films, then the validation and test labels (1 = PNEUMONIA)."
    df = training_split(m, idx, split_seed)
    fit, va, te = df[(df.split == 'train') & ~df.is_valid], df[df.is_valid], df[df.split == 'test']
    return fit, va, te, (va.label == POSITIVE).astype(int).values, (te.label == POSITIVE).astype(int).values
