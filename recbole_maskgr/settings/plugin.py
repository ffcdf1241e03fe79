"""Settings every model reads (the layer properties/overall.yaml): run, evaluation, SIDs, crash safety."""

from __future__ import annotations

from recbole_maskgr.settings.declared import EVERY_MODEL, SID_MODELS, Section, Setting
from recbole_maskgr.settings.rules import ANY, FLAG, MAPPING, TEXT, TEXT_LIST, Rule, choice, number, whole

METRIC_CHECKED = "checked with the metrics, before RecBole's own checks"
TOPK = Rule(lambda v: True, f"an integer >= 1 or a list of them ({METRIC_CHECKED})")
METRIC_NAMES = Rule(lambda v: True, f"a metric name or a list of them ({METRIC_CHECKED})")

RUN = Section(
    "Runs and evaluation (every model)",
    "Above RecBole's own defaults, below the model, dataset and user layers. The evaluation protocol is "
    "the paper's: leave-one-out, full ranking.",
    (
        Setting("checkpoint_dir", "saved", TEXT, "folder of checkpoints and the SID cache", recbole=True),
        Setting("train_budget_clock", "wall", choice("wall", "process", notes={
            "process": "this process's CPU seconds, not shrunk by other work on a shared machine"}),
            "what train_budget_s counts"),
        Setting("train_budget_s", None, number(0, low_open=True).or_none("no budget"),
                "training budget in seconds (any model)"),
        Setting("show_progress", True, FLAG, "progress bars", recbole=True),
        Setting("reproducibility", True, FLAG, "deterministic kernels", recbole=True),
        Setting("seed", 2020, whole(0), "random seed of the run", recbole=True),
        Setting("train_neg_sample_args", None, ANY.or_none(),
                "~: sequential models here train with cross-entropy over all items", recbole=True),
        Setting("eval_args", {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
                MAPPING, "split, order, grouping and ranking mode of the evaluation", recbole=True),
        Setting("metrics", ["Recall", "NDCG", "MRR"], METRIC_NAMES, "ranking metrics", recbole=True),
        Setting("topk", [5, 10], TOPK, "list lengths the metrics are cut at", recbole=True),
        Setting("valid_metric", "NDCG@10", METRIC_NAMES, "the metric that picks the best epoch", recbole=True),
        Setting("eval_batch_size", 256, whole(1), "users scored together in evaluation", recbole=True),
        Setting("MAX_ITEM_LIST_LENGTH", 20, whole(1), "history items a model sees", recbole=True),
        Setting("load_col", None, ANY.or_none("every column of every atomic file"),
                "columns to load; RecBole's default (ids only) would drop the timestamp", recbole=True),
    ),
)

SIDS = Section(
    "Semantic IDs (MaskGR and TIGER; other models ignore them)",
    "Item texts -> sentence vectors -> residual k-means codes, cached under sid_cache_dir.",
    (
        Setting("sid_text_fields", ["title", "brand", "categories", "price"], TEXT_LIST,
                ".item fields that describe an item", SID_MODELS),
        Setting("sid_text_template", None, TEXT.or_none("'field: value; ...'"),
                "an item's text, e.g. '{title} by {brand}'", SID_MODELS),
        Setting("sid_text_encoder", "all-MiniLM-L6-v2", TEXT,
                "any sentence-transformers name or path; the default ships offline", SID_MODELS),
        Setting("sid_encode_batch_size", 256, whole(1), "texts encoded together", SID_MODELS),
        Setting("sid_levels", 4, whole(1), "residual k-means levels per item; a de-dup digit makes H = levels + 1",
                SID_MODELS),
        Setting("sid_codebook_size", 256, whole(2), "codes per level; one code cannot tell items apart", SID_MODELS),
        Setting("sid_method", "residual_kmeans", choice("residual_kmeans", "rq", "kmeans", notes={
            "rq": "faiss ResidualQuantizer"}), "the quantiser", SID_MODELS),
        Setting("sid_kmeans_iters", 25, whole(1), "k-means iterations per level", SID_MODELS),
        Setting("sid_seed", None, whole(0).or_none("the run's seed"), "k-means seed", SID_MODELS),
        Setting("sid_cache_dir", None, TEXT.or_none("<checkpoint_dir>/sid_cache"), "where SID tables are cached",
                SID_MODELS),
        Setting("sid_source", "auto", choice("auto", "text", "collaborative", "both", notes={
            "auto": "text where loaded, else collaborative", "collaborative": "the training split's interactions",
            "both": "text and collaborative vectors side by side"}), "what the item vectors are made of", SID_MODELS),
        Setting("sid_collaborative_dim", 64, whole(1), "truncated-SVD size of the collaborative item vectors",
                SID_MODELS),
    ),
)

CRASH_SAFETY = Section(
    "Crash safety (every model)",
    "A rolling '<best checkpoint stem>-last.pth' is written after every validation (every epoch without "
    "validation); resume with --resume=<that file>.",
    (
        Setting("checkpoint_every_steps", None, whole(0).or_none("off"),
                "also write it every N optimizer steps mid-epoch; 0 = off", EVERY_MODEL),
    ),
)

PLUGIN_SECTIONS = (RUN, SIDS, CRASH_SAFETY)
