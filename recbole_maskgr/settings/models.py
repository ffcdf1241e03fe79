"""Settings of the plugin's models (the layers properties/model/MaskGR.yaml and TIGER.yaml)."""

from __future__ import annotations

from recbole_maskgr.settings.declared import RECBOLE_DEFAULT, SID_MODELS, Section, Setting
from recbole_maskgr.settings.rules import FLAG, MAPPING, TEXT, choice, number, schedule_rule, whole

MASKGR, TIGER = ("MaskGR",), ("TIGER",)
MAX_NEXT_K = 4  # a joint beam packs k item ids into one int64 index (decoding/joint.py)
DECODE_ORDERS = {"top-prob": "most confident position first", "left-to-right": "", "random": ""}
INVALID_SID_RULES = {"constrained": "only catalogue items", "projection": "free search, then the closest item"}
DECODING_MODES = {"item": "one pass, the item-level softmax; needs item_loss_weight > 0",
                  "marginal": "one pass over the SID tokens", "beam": "SID beams, decode_steps passes per item",
                  "dense": "the dense head's nearest items; needs dense_retrieval"}
SHARE = number(0, 1)
WEIGHT = number(0)

NETWORK = Section(
    "Network",
    "CPU-sized; the paper's sizes (MaskGR / TIGER) are in brackets.",
    (
        Setting("hidden_size", 128, whole(1), "model width [128 / 128]", SID_MODELS, recbole=True),
        Setting("n_layers", 2, whole(1), "encoder layers [8 / 4]", SID_MODELS, recbole=True),
        Setting("n_decoder_layers", 2, whole(1), "decoder layers [4]", TIGER),
        Setting("n_heads", 4, whole(1), "attention heads, splitting hidden_size [8 / 6]", SID_MODELS, recbole=True),
        Setting("inner_size", 512, whole(1), "feed-forward width [3072 / 1024]", SID_MODELS, recbole=True),
        Setting("dropout_prob", 0.1, SHARE, "dropout [0.25 / 0.15]", SID_MODELS, recbole=True),
        Setting("position_embedding", "learned", choice("learned", "rotary"),
                "encoder positions [rotary / learned]; TIGER's decoder has H learned positions", SID_MODELS),
    ),
)

OBJECTIVE = Section(
    "Training objective",
    "MaskGR: masked diffusion, t ~ U(mask_t_min, 1). The default is a CPU recipe (docs/maskgr.md): a clean "
    "history of one vector per item (SID code sum + a learned ID vector), only the next item noised, and an "
    "item-level softmax beside the token loss. The paper's recipe: --config_files=maskgr-paper; the SID-only "
    "model: --config_files=maskgr-sid-only. TIGER: teacher forcing on the next item's H codes.",
    (
        Setting("mask_t_min", 0.001, number(0, 1, low_open=True, high_open=True),
                "the smallest noise level t", MASKGR),
        Setting("target_mask_prob", 0.0, SHARE, "share of paper rows whose newest item is wholly masked (0 = paper)",
                MASKGR),
        Setting("item_mask_prob", 0.0, SHARE, "share of paper rows masked item by item (0 = paper)", MASKGR),
        Setting("clean_history_share", 1.0, SHARE,
                "share of rows whose history stays clean, only the target noised (0 = paper)", MASKGR),
        Setting("loss_weight", "uniform", choice("inverse_t", "uniform", notes={
            "inverse_t": "the paper's ELBO weight 1/t", "uniform": "every masked token counts 1"}),
            "weight of a masked token", MASKGR),
        Setting("history_tokens", "items", choice("codes", "items"),
                "history positions: one per item (needs clean_history_share 1), or H per item (the paper)", MASKGR),
        Setting("history_attention", "history_only", choice("all", "history_only", notes={
            "all": "every token sees every other, the paper", "history_only": "the history sees only itself"}),
            "attention of the history; history_only encodes each history once when decoding", MASKGR),
        Setting("item_id_vectors", True, FLAG,
                "a learned vector per item beside its SID code sum (needs history_tokens: items)", MASKGR),
        Setting("item_loss_weight", 1.0, WEIGHT,
                "weight of the item-level softmax over every item (0 = off; needs history_only)", MASKGR),
        Setting("item_negatives", 0, whole(0), "item loss: 0 = every item, N = N items drawn per batch", MASKGR),
        Setting("token_loss_weight", 1.0, WEIGHT, "weight of the masked-diffusion token loss (0 = the item head "
                "alone, an ablation)", MASKGR),
        Setting("train_samples", "prefixes", choice("prefixes", "sequence", "windows", notes={
            "prefixes": "RecBole's, every prefix", "sequence": "the paper's, the last window",
            "windows": "non-overlapping windows"}), "training samples per user", SID_MODELS),
    ),
)

OPTIMISATION = Section(
    "Optimisation",
    "AdamW, linear warm-up, then linear decay to lr_final_ratio * learning_rate.",
    (
        Setting("learner", "adamw", TEXT, "optimizer", SID_MODELS, recbole=True),
        Setting("learning_rate", 0.002, number(0, low_open=True), "peak learning rate [3e-3 / 1e-2]", SID_MODELS,
                recbole=True),
        Setting("weight_decay", 0.001, number(0), "AdamW weight decay [1e-3]", SID_MODELS, recbole=True),
        Setting("warmup_steps", 200, whole(0), "optimizer steps of linear LR warm-up [10000]", SID_MODELS),
        Setting("lr_final_ratio", 0.3, SHARE, "the LR at the end of training, as a share of learning_rate",
                SID_MODELS),
        Setting("clip_grad_norm", {"max_norm": 1.0}, MAPPING, "gradient clipping", SID_MODELS, recbole=True),
        Setting("train_batch_size", 256, whole(1), "sequences per batch [2048 / 256]", SID_MODELS, recbole=True),
        Setting("train_chunk_sequences", 64, whole(1),
                "a batch runs in chunks of similar length (less padding, the same loss)", MASKGR),
        Setting("epochs", 10, whole(1), "passes over the training data; raise for real runs", SID_MODELS, {"TIGER": 30}, recbole=True),
        Setting("stopping_step", 5, whole(1), "validations without gain before stopping", SID_MODELS,
                recbole=True),
    ),
)

DECODING = Section(
    "Decoding",
    "MaskGR unmasks the H target tokens in decode_steps passes; TIGER decodes left to right with a key/value "
    "cache. Validation and test each choose their decoding.",
    (
        Setting("beam_width", 10, whole(1), "beams kept; >= max(topk) unless rank_beyond_beams", SID_MODELS),
        Setting("rank_beyond_beams", False, FLAG, "rank the list after the beams by one-pass likelihood",
                SID_MODELS),
        Setting("decode_steps", 3, schedule_rule(), "encoder passes per item (split evenly, larger parts first)",
                MASKGR),
        Setting("beam_rerank_weight", 0.0, WEIGHT, "beams: + w * the item-level log-prob (needs the item head)",
                MASKGR),
        Setting("item_marginal_weight", 0.0, WEIGHT, "item decoding: + w * the one-pass token log-likelihood",
                MASKGR),
        Setting("decode_order", "top-prob", choice(*DECODE_ORDERS, notes=DECODE_ORDERS),
                "which positions a pass unmasks", MASKGR),
        Setting("invalid_sid", "constrained", choice(*INVALID_SID_RULES, notes=INVALID_SID_RULES),
                "how decoding keeps to real items [projection]", SID_MODELS),
        Setting("next_k", 1, whole(1, MAX_NEXT_K), "items decoded jointly as k*H target slots, at most "
                f"{MAX_NEXT_K} (their ids share one int64 index); needs history_tokens: items; RecBole's ranking "
                "lists the first", MASKGR),
        Setting("valid_decoding", "item", choice(*DECODING_MODES, notes=DECODING_MODES),
                "decoding while validating (TIGER: beam only)", SID_MODELS, {"TIGER": "beam"}),
        Setting("test_decoding", "item", choice(*DECODING_MODES, notes=DECODING_MODES), "decoding at test time",
                SID_MODELS, {"TIGER": "beam"}),
        Setting("decode_chunk_users", 64, whole(1), "users decoded together, grouped by history length",
                SID_MODELS),
    ),
)

DENSE = Section(
    "Dense retrieval (the paper's extension)",
    "Item text vectors join the history; a head to the text space is trained by an in-catalogue softmax.",
    (
        Setting("dense_retrieval", False, FLAG, "turn the extension on", MASKGR),
        Setting("dense_every", 10, whole(1), "the dense loss on every N-th step, the target wholly masked", MASKGR),
        Setting("dense_loss_weight", 1.0, WEIGHT, "weight of the dense loss", MASKGR),
        Setting("dense_temperature", 0.1, number(0, low_open=True), "cosine / temperature", MASKGR),
        Setting("dense_layer", 0, whole(0), "the encoder block whose states the head reads: 0 = the last "
                "layer's output, k = block k's (the paper reads an intermediate layer); below n_layers", MASKGR),
    ),
)

RECBOLE_CHECKED = Section(
    "RecBole's own models (checked here, defaults RecBole's)",
    "Settings of RecBole's Transformer models that a leaderboard next to MaskGR often sets.",
    (
        Setting("hidden_dropout_prob", RECBOLE_DEFAULT, SHARE, "dropout (SASRec, BERT4Rec)", ("SASRec", "BERT4Rec"),
                recbole=True),
        Setting("attn_dropout_prob", RECBOLE_DEFAULT, SHARE, "attention dropout (SASRec, BERT4Rec)",
                ("SASRec", "BERT4Rec"), recbole=True),
    ),
)

MODEL_SECTIONS = (NETWORK, OBJECTIVE, OPTIMISATION, DECODING, DENSE)
