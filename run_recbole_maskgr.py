"""Train and test MaskGR (or any RecBole model) the RecBole way.

    python run_recbole_maskgr.py                                  # MaskGR on RecBole's bundled ml-100k
    python run_recbole_maskgr.py --model=SASRec --dataset=amazon-beauty --data_path=../shared/datasets
    python run_recbole_maskgr.py --model=MaskGR,SASRec,Pop -d ml-100k --epochs=5   # leaderboard
    python run_recbole_maskgr.py --model=SASRec --nproc=2                          # 2 DDP processes
"""

import argparse
import shlex
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", default="MaskGR", help="model name, or a comma-separated list for a leaderboard")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (a folder under data_path)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files (highest file layer)")
    parser.add_argument("--nproc", type=int, default=1, help="DDP processes on this machine (gloo on CPU, NCCL on GPU)")
    parser.add_argument("--world_size", type=int, default=-1, help="DDP processes on all machines (default: nproc)")
    parser.add_argument("--ip", default="localhost", help="address of the machine that runs global rank 0")
    parser.add_argument("--port", default="5678", help="free TCP port on that machine")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")
    parser.add_argument("--resume", default=None, help="checkpoint to continue training from")
    parser.add_argument("--results_dir", default="results", help="where leaderboard tables are written")
    parser.add_argument("--overwrite_results", action="store_true",
                        help="rewrite results/leaderboard-<dataset>.md instead of starting -2, -3, ...")
    args, rest = parser.parse_known_args(argv)
    for item in rest:
        if not (item.startswith("--") and "=" in item):
            parser.error(f"unrecognised argument '{item}': overrides are written --key=value")
    return args, rest


def run_distributed(args, models, config_files, overrides, command):
    """The same run in `--nproc` DDP processes; every input is checked here first, for a one-line error."""
    from recbole_maskgr import distributed, launch
    from recbole_maskgr.config import make_config
    from recbole_maskgr.files import output_dir
    from recbole_maskgr.preflight import check_inputs
    from recbole_maskgr.quick_start import check_leaderboard

    ddp = distributed.check_launch(args.nproc, args.world_size, args.ip, args.port, args.group_offset)
    if len(models) == 1:  # rank 0 logs the results, as one process does
        check_inputs(make_config(models[0], args.dataset, config_files, cmd_args=overrides), args.resume)
        task = (models[0], args.dataset, config_files, None, overrides, args.resume)
        distributed.launch(launch.run_model, args=task, **ddp)
    else:
        check_leaderboard(models, args.dataset, config_files, cmd_args=overrides)
        output_dir(args.results_dir, "--results_dir")
        task = (models, args.dataset, config_files, None, overrides, args.results_dir, command, args.overwrite_results)
        distributed.launch(launch.run_leaderboard, args=task, **ddp)


def run(args, overrides, argv) -> int:
    from recbole_maskgr import quick_start
    from recbole_maskgr.results import check_models

    models = check_models([m.strip() for m in args.model.split(",") if m.strip()])
    config_files = args.config_files.split() if args.config_files else None
    command = "python run_recbole_maskgr.py " + " ".join(shlex.quote(a) for a in argv)
    if args.nproc != 1 or args.world_size > 0:
        run_distributed(args, models, config_files, overrides, command)
    elif len(models) == 1:
        quick_start.run(models[0], args.dataset, config_files, cmd_args=overrides, resume=args.resume)
    else:
        quick_start.leaderboard(models, args.dataset, config_files, cmd_args=overrides, results_dir=args.results_dir,
                                command=command, overwrite=args.overwrite_results)
    return 0


def main(argv=None):
    from recbole_maskgr.cli import script_main

    return script_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
