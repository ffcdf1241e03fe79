"""Hyperparameter search, RecBole's `run_hyper.py` interface, over the plugin's and RecBole's models.

    python run_hyper.py --model=SASRec --dataset=ml-100k --max_evals=2 --epochs=1
    python run_hyper.py --model=MaskGR --params_file=properties/hyper/MaskGR.test --results_dir=results

Each line of a parameter file is `name choice [a,b]` (or uniform / quniform / loguniform, as in
RecBole); without --params_file, `properties/hyper/<model>.test` or the learning-rate search is used.
Other `--key=value` options fix a setting for every trial.
"""

import argparse
import os
import shlex
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", default="MaskGR")
    parser.add_argument("--dataset", "-d", default="ml-100k")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files fixed for every trial")
    parser.add_argument("--params_file", default=None, help="search space (default: properties/hyper/<model>.test)")
    parser.add_argument("--max_evals", type=int, default=100, help="trials at most")
    parser.add_argument("--tool", default="hyperopt", help="only hyperopt (RecBole's other choice, ray, is not supported)")
    parser.add_argument("--algo", default="exhaustive", help="exhaustive | random | bayes")
    parser.add_argument("--early_stop", type=int, default=10, help="stop after this many trials without progress")
    parser.add_argument("--output_file", default=None, help="RecBole's text export of every trial")
    parser.add_argument("--results_dir", default=None, help="write hyper-<model>-<dataset>.md/.json (one row per trial)")
    args, rest = parser.parse_known_args(argv)
    for item in rest:
        if not (item.startswith("--") and "=" in item):
            parser.error(f"unrecognised argument '{item}': overrides are written --key=value")
    return args, rest


def search(args, overrides, argv) -> int:
    from recbole_maskgr import hyper
    from recbole_maskgr.config import ConfigError, make_config
    from recbole_maskgr.files import output_dir, output_file

    if args.tool.lower() != "hyperopt":
        raise ConfigError(f"--tool={args.tool} is not supported: use --tool=hyperopt.")
    try:
        import hyperopt  # noqa: F401
    except ImportError as err:
        raise ConfigError('run_hyper.py needs hyperopt: pip install -e ".[hyper]"') from err
    if args.output_file:  # outputs are checked before the first trial, not after the last
        output_file(args.output_file, "--output_file")
    if args.results_dir:
        output_dir(args.results_dir, "--results_dir")
    config_files = args.config_files.split() if args.config_files else None
    bigger = make_config(args.model, args.dataset, config_files, cmd_args=overrides)["valid_metric_bigger"]
    tuner = hyper.tune(args.model, args.dataset, args.params_file, config_files, overrides,
                       args.max_evals, args.algo, args.early_stop)
    rows = hyper.trial_rows(tuner)
    best = hyper.best_row(rows, bigger)
    if args.output_file:
        os.makedirs(os.path.dirname(os.path.abspath(args.output_file)), exist_ok=True)
        tuner.export_result(output_file=args.output_file)
    if args.results_dir:
        command = "python run_hyper.py " + " ".join(shlex.quote(a) for a in argv)
        stem = f"{args.results_dir}/hyper-{args.model}-{args.dataset}"
        print(hyper.write_table(rows, best, stem, command))
    result = tuner.params2result[best["params"]]
    print(f"best params: {best['params']}")
    print(f"best valid score: {best['best_valid_score']:.4f}")
    print(f"best valid result: {dict(result['best_valid_result'] or {})}")
    print(f"test result: {dict(result['test_result'] or {})}")
    return 0


def main(argv=None):
    from recbole_maskgr.cli import script_main

    return script_main(parse_args, search, argv)


if __name__ == "__main__":
    sys.exit(main())
