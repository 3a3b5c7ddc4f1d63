#!/usr/bin/env python
"""Train the seed studies' model iterations (`ITERATIONS`) on the full data and print their comparison table.

    python bench/iterations.py --data ../shared/data/chest_xray [--names dense,small_cnn] [--seed 42] [--csv <file>]

Each configuration is trained by `compare` on the same patient split (seed `--seed`), its threshold chosen on
validation, and the official test set scored once at that threshold. Prints validation AUC, the threshold, test
accuracy, sensitivity, specificity, F1 macro and AUC, training time, parameters and file size, as a Markdown table,
and the total time. `--csv` also writes the table (keep it out of the repository: it is derived from the images).
Not a test: run by hand (25 minutes on the idle 2-core CPU).
"""
import argparse, time
from pneumo_nb.model import ITERATIONS, compare

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', help='dataset folder')
    ap.add_argument('--names', default=','.join(ITERATIONS), help='comma-separated keys of ITERATIONS')
    ap.add_argument('--seed', type=int, default=42, help='seed of the split and of every run')
    ap.add_argument('--csv', help='also write the table here')
    args = ap.parse_args()
    t0 = time.time()
    tab = compare(args.names.split(','), args.data, seed=args.seed, progress=False)
    if args.csv: tab.to_csv(args.csv)
    cols = ['val_auc', 'threshold', 'test_accuracy', 'test_sensitivity', 'test_specificity', 'test_f1_macro', 'test_auc',
            'train_s', 'params_M', 'file_MB']
    fmt = dict(train_s='{:.0f}', params_M='{:.2f}', file_MB='{:.1f}')
    print('| configuration | ' + ' | '.join(cols) + ' |\n|' + '---|'*(len(cols)+1))
    for name, r in tab.iterrows():
        print(f'| {name} | ' + ' | '.join(fmt.get(c, '{:.4f}').format(float(r[c])) for c in cols) + ' |')
    print(f'({time.time()-t0:.0f} s in all)', flush=True)

if __name__ == '__main__': main()
