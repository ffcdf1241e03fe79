"""Run, compare and reload models: RecBole's quick start without `recbole.quick_start`.

`recbole.quick_start` imports ray (and through it setuptools' pkg_resources); RecBole's own
`get_model` cannot see plugin models and its checkpoints do not load on torch >= 2.6. These
few functions do the same job with the plugin's resolution and safe checkpoints.
"""

from __future__ import annotations

import time
from logging import getLogger

from recbole_maskgr.config import get_model, known_settings, make_config
from recbole_maskgr.distributed import is_rank_zero
from recbole_maskgr.files import clean_stale_temps
from recbole_maskgr.results import (  # noqa: F401  (leaderboard_rows, machine_description: kept here)
    LeaderboardTable,
    check_models,
    leaderboard_rows,
    machine_description,
)
from recbole_maskgr.preflight import check_inputs, check_run_paths


def create_dataset(config):
    """The dataset class the model asks for (`model.dataset_class`), else RecBole's choice.

    Unlike RecBole's `create_dataset` this never unpickles a saved dataset file.
    """
    from recbole.data import dataset as recbole_datasets
    from recbole.utils import ModelType

    from recbole_maskgr.data.data_left import nothing_left
    from recbole_maskgr.data.verbatim import verbatim_dataset

    check_inputs(config)
    model_class = get_model(config["model"])
    dataset_class = getattr(model_class, "dataset_class", None)
    if dataset_class is None:
        by_type = {ModelType.SEQUENTIAL: "SequentialDataset", ModelType.KNOWLEDGE: "KnowledgeBasedDataset"}
        name = config["model"] + "Dataset"
        if not hasattr(recbole_datasets, name):
            name = by_type.get(config["MODEL_TYPE"], "Dataset")
        dataset_class = getattr(recbole_datasets, name)
    try:
        return verbatim_dataset(dataset_class)(config)
    except ValueError as err:
        if "Some feat is empty" not in str(err):
            raise
        raise nothing_left(config) from err


def prepare_data(config, dataset):
    """Split and wrap in dataloaders, as RecBole's data_preparation, minus pickled dataloader caches."""
    from recbole.data.utils import create_samplers, get_dataloader
    from recbole.utils import ModelType

    from recbole_maskgr.data.data_left import check_training_split

    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        from recbole.data import data_preparation  # knowledge graphs need RecBole's KG sampler

        return data_preparation(config, dataset)
    built = list(dataset.build())
    model_class = get_model(config["model"])
    reshape = getattr(model_class, "prepare_train_dataset", None)
    if reshape is not None:
        built[0] = reshape(config, built[0])
    check_training_split(config, built[0])  # torch would say only "num_samples=0"
    samplers = create_samplers(config, dataset, built)
    train = get_dataloader(config, "train")(config, built[0], samplers[0], shuffle=config["shuffle"])
    valid = get_dataloader(config, "valid")(config, built[1], samplers[1], shuffle=False)
    test = get_dataloader(config, "test")(config, built[2], samplers[2], shuffle=False)
    return train, valid, test


def get_trainer(config):
    """The model's own trainer (`model.trainer_class`), else RecBole's, always with safe checkpoints
    (and, under DDP, gathered evaluation and rank-0 files)."""
    from recbole.utils import get_trainer as recbole_get_trainer

    from recbole_maskgr.trainer.distributed import make_distributed
    from recbole_maskgr.trainer.safe import make_safe

    model_class = get_model(config["model"])
    trainer_class = getattr(model_class, "trainer_class", None)
    if trainer_class is None:
        trainer_class = recbole_get_trainer(config["MODEL_TYPE"], config["model"])
    return make_safe(trainer_class) if config["single_spec"] else make_distributed(make_safe(trainer_class))


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(config, log=True):
    """Config -> (dataset, loaders, model, trainer), seeded as RecBole does."""
    from recbole.utils import init_seed

    from recbole_maskgr.distributed import init_logger  # log files from rank 0 only

    clean_stale_temps(*check_run_paths(config))  # before the log file (named by the dataset); a run starts here
    init_seed(config["seed"], config["reproducibility"])
    if log:
        init_logger(config)
    logger = getLogger()
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = prepare_data(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    logger.info(model)
    trainer = get_trainer(config)(config, model)
    return dataset, (train_data, valid_data, test_data), model, trainer


def run(
    model: str = "MaskGR",
    dataset: str = "ml-100k",
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    cmd_args: list[str] | None = None,
    saved: bool = True,
    resume: str | None = None,
    known_elsewhere: frozenset[str] = frozenset(),
) -> dict:
    """Train, validate and test one model; returns RecBole's result dict plus timings and size.

    `known_elsewhere`: settings meant for other models of a leaderboard, accepted here too.
    """
    config = make_config(model, dataset, config_file_list, config_dict, cmd_args, known_elsewhere)
    if resume:
        from recbole_maskgr.trainer.checkpoint import check_resume_file

        check_resume_file(resume, config)  # refuse a foreign or unsafe file before building anything
    _, (train_data, valid_data, test_data), net, trainer = build(config)
    if resume:
        trainer.resume_checkpoint(resume)
    logger = getLogger()
    show = config["show_progress"]
    start = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=saved, show_progress=show)
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show)
    eval_time = time.perf_counter() - start
    logger.info(f"best valid : {best_valid_result}")
    logger.info(f"test result: {test_result}")
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "parameters": count_parameters(net),
        "train_time_s": train_time,
        "test_eval_time_s": eval_time,
        "test_users": len(test_data.dataset),
        "epochs_trained": len(trainer.train_loss_dict),
        "decode_stats": getattr(trainer, "last_decode_stats", None),
        "saved_model_file": trainer.saved_model_file if saved else None,
    }


def objective_function(config_dict=None, config_file_list=None, saved=True, *, model=None, dataset=None,
                       cmd_args=None):
    """For RecBole's HyperTuning: the dict it expects, from one `run` (plus timing and size)."""
    settings = dict(config_dict or {})
    model = model or settings.pop("model", None) or "MaskGR"
    dataset = dataset or settings.pop("dataset", None) or "ml-100k"
    result = run(model, dataset, config_file_list, settings, cmd_args, saved=saved)
    keys = ("model", "best_valid_score", "valid_score_bigger", "best_valid_result", "test_result",
            "train_time_s", "parameters")
    return {key: result[key] for key in keys}


def checkpoint_config(model_file: str, config_dict: dict | None = None):
    """The config a checkpoint was trained with, less its LOCATION_SETTINGS (from `config_dict` or
    the defaults instead: nothing read from the file chooses where we read or write)."""
    from recbole_maskgr.trainer.checkpoint import LOCATION_SETTINGS, plain_config, safe_load

    recorded = safe_load(model_file)["config"]
    defaults = plain_config(make_config(recorded["model"], recorded["dataset"], config_dict=config_dict))
    # only what the run set apart from today's defaults counts as set (e.g. sid_text_fields the user typed)
    settings = {k: v for k, v in recorded.items()
                if k not in LOCATION_SETTINGS and k not in ("model", "dataset") and defaults.get(k) != v}
    config = make_config(recorded["model"], recorded["dataset"], config_dict={**settings, **(config_dict or {})})
    ignored = {k: recorded[k] for k in LOCATION_SETTINGS if k in recorded and recorded[k] != config[k]}
    if ignored:
        getLogger().info(f"{model_file} names {ignored}; not taken from the file: using "
                         f"{ {k: config[k] or 'the default' for k in ignored} } (pass them in config_dict to choose)")
    return config


def load_data_and_model(model_file: str, config_dict: dict | None = None):
    """Rebuild config, data and model from one of our checkpoints (weights-only, no pickles).

    As for --resume, nothing read from the file chooses where we read or write: its LOCATION_SETTINGS are
    dropped; they come from `config_dict` (e.g. {"data_path": ..., "sid_cache_dir": ...}) or the defaults.
    """
    from recbole.utils import init_seed

    config = checkpoint_config(model_file, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = prepare_data(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config)(config, model)
    trainer.load_checkpoint(model_file)
    return config, model, dataset, train_data, valid_data, test_data


def check_leaderboard(models: list[str], dataset: str, config_file_list=None, config_dict=None, cmd_args=None):
    """Every model's settings and inputs, before hours of training; returns, per model, the settings
    meant for the leaderboard's other models (accepted in its config too)."""
    check_models(models)
    known = {name: known_settings(name, dataset) for name in models}  # also fails on a model-name typo
    elsewhere = {name: frozenset().union(*(known[o] for o in models if o != name)) for name in models}
    for name in models:
        check_inputs(make_config(name, dataset, config_file_list, config_dict, cmd_args, elsewhere[name]))
    return elsewhere


def leaderboard(
    models: list[str],
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    cmd_args: list[str] | None = None,
    results_dir: str = "results",
    command: str | None = None,
    overwrite: bool = False,
) -> list[dict]:
    """Train and test each model on the same data, split and seed; one Markdown + JSON table that
    gains each model's row as soon as it is tested (`results/leaderboard-<dataset>.md`, or `-2`,
    `-3`, ... when that exists, unless `overwrite`)."""
    elsewhere = check_leaderboard(models, dataset, config_file_list, config_dict, cmd_args)
    table = LeaderboardTable(models, dataset, results_dir, command, overwrite) if is_rank_zero() else None
    results = []
    for name in models:  # under DDP every rank has the same rows; rank 0 writes them
        results.append(run(name, dataset, config_file_list, config_dict, cmd_args, known_elsewhere=elsewhere[name]))
        if table is not None:
            table.add(results[-1])
    if table is not None:
        print(table.markdown)
    return leaderboard_rows(results)
