"""MaskGR's training objectives: one object per history layout, each returning named loss terms.

A term is a tensor [2], (sum of weighted cross-entropies, sum of weights), so that the chunks of a
batch add up to the batch's exact loss; `loss(terms)` turns a batch's terms into the number to
minimise. Only the terms a step computes are present: "item" with the item head, "dense" on dense
steps. The objects hold their own settings; the model they are handed provides the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recbole_maskgr.model.base import tied_level_logits
from recbole_maskgr.model.diffusion import (
    diffusion_loss_terms,
    force_mask,
    items_to_tokens,
    mask_target_only,
    mask_tokens,
    mask_whole_items,
    mix_objectives,
    sample_noise_level,
    weighted_mean,
)


def add_terms(total: dict, chunk: dict) -> dict:
    """Chunk terms added into the batch's, name by name."""
    return {name: total[name] + term if name in total else term for name, term in chunk.items()}


def row_weights(t: torch.Tensor, loss_weight: str) -> torch.Tensor:
    """Per-row token weights: the ELBO's 1/t (the paper), or 1 (`loss_weight: uniform`).

    Uniform weights give the heavily masked rows (the first decoding steps, where the history
    alone must name the item) their share by token count instead of evening every row out.
    """
    return 1.0 / t if loss_weight == "inverse_t" else torch.ones_like(t)


@dataclass(frozen=True)
class MaskedDiffusionObjective:
    """What both layouts share: noise levels t ~ U(t_min, 1), token weights, the token loss's weight."""

    t_min: float
    loss_weight: str
    token_loss_weight: float

    def draw(self, model, interaction):
        """A chunk's histories [B, T], next items [B] and noise levels [B]."""
        target = interaction[model.POS_ITEM_ID]  # [B]
        return model._history_items(interaction), target, sample_noise_level(target.shape[0], self.t_min, target.device)


@dataclass(frozen=True)
class PaperObjective(MaskedDiffusionObjective):
    """`history_tokens: codes`, the paper's: H tokens per history item, every token of history and
    target noised at one level t; a share of rows (`clean_history_share`) noises only the target.
    Terms "paper" and "clean", each a weighted mean of its own rows' tokens in the loss."""

    clean_history_share: float
    item_mask_prob: float
    target_mask_prob: float

    def chunk_terms(self, model, interaction, dense_step: bool = False, candidates=None) -> dict:
        history, target, t = self.draw(model, interaction)  # [B, T], [B], [B]
        items = torch.cat([history, target[:, None]], dim=1)  # [B, T+1]
        tokens, codes, real = items_to_tokens(items, model.item_sid, model.codebook_size, model.pad_id)  # [B, L]
        batch = tokens.shape[0]
        clean = self._clean_rows(batch, tokens.device)  # [B]
        noised, masked, t_paper = self._paper_noise(model, tokens, real, t, ~clean)
        if clean.any():
            clean_noised, clean_masked = mask_target_only(tokens, real, t, model.mask_id, model.sid_length)
            noised = torch.where(clean[:, None], clean_noised, noised)  # [B, L]
            masked = torch.where(clean[:, None], clean_masked, masked)  # [B, L]
        slots = model.slots  # the target's H tokens, after the history's
        hidden = model(model.encoder.token_emb(noised[:, :-slots]), real[:, :-slots], noised[:, -slots:],
                       every_position=True)  # [B, L, d]
        per_item = hidden.view(-1, model.sid_length, model.hidden_size)  # [B*n, H, d]
        logits = tied_level_logits(per_item, model._code_emb()).reshape(batch, -1, model.codebook_size)  # [B, L, K]
        weights = row_weights(torch.where(clean, t, t_paper), self.loss_weight)  # [B]
        paper = diffusion_loss_terms(logits, codes, masked & ~clean[:, None], weights)
        clean_terms = diffusion_loss_terms(logits, codes, masked & clean[:, None], weights)
        return {"paper": torch.stack(paper), "clean": torch.stack(clean_terms)}  # [2] each

    def loss(self, terms: dict) -> torch.Tensor:
        return self.token_loss_weight * mix_objectives(torch.stack([terms["paper"], terms["clean"]]),
                                                       self.clean_history_share)

    def _clean_rows(self, batch: int, device) -> torch.Tensor:
        """Which rows keep their history clean (no random draw at share 0 or 1)."""
        if self.clean_history_share >= 1.0:
            return torch.ones(batch, dtype=torch.bool, device=device)
        if self.clean_history_share <= 0.0:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        return torch.rand(batch, device=device) < self.clean_history_share  # [B]

    def _paper_noise(self, model, tokens, real, t, rows):
        """The paper's noising of every token (plus the opt-in item / target options) on `rows` [B]."""
        batch = tokens.shape[0]
        if self.item_mask_prob > 0:
            whole_rows = torch.rand(batch, device=tokens.device) < self.item_mask_prob  # [B]
            noised, masked = mask_whole_items(tokens, real, t, model.mask_id, model.sid_length, whole_rows)
        else:
            noised, masked = mask_tokens(tokens, real, t, model.mask_id)
        if self.target_mask_prob > 0:
            # also practise the inference task: the newest item fully masked
            forced = (torch.rand(batch, device=tokens.device) < self.target_mask_prob) & rows  # [B]
            last_item = torch.zeros_like(real)
            last_item[:, -model.sid_length :] = True
            noised, masked = force_mask(noised, masked, last_item & forced[:, None], model.mask_id)
            # weight by the masking rate actually applied: 1/t of a nearly clean row would put
            # the whole batch's weight on its forced target tokens
            applied = masked.sum(1) / real.sum(1).clamp(min=1)  # [B]
            t = torch.where(forced, torch.maximum(t, applied), t)
        return noised, masked, t


@dataclass(frozen=True)
class CleanItemsObjective(MaskedDiffusionObjective):
    """`history_tokens: items`: a clean history of one vector per item, only the target's k*H slots
    noised (next_k = k: the last k - 1 history items join the target, as joint decoding sees them).
    Terms "token"; "item" with the item head (a second, all-masked copy of the slots over the same
    cached history); "dense" on dense steps, which mask the whole target."""

    item_loss_weight: float
    dense_loss_weight: float

    def chunk_terms(self, model, interaction, dense_step: bool = False, candidates=None) -> dict:
        history, target, t = self.draw(model, interaction)  # [B, T], [B], [B]
        history, targets = model.split_targets(history, target)  # [B, T-k+1], [B, k]
        codes = model.item_sid[targets].flatten(1)  # [B, k*H]
        slots = (targets > 0).repeat_interleave(model.sid_length, dim=1)  # [B, k*H]; short histories: fewer items
        t = torch.ones_like(t) if dense_step else t  # whole-item masking on dense steps
        noised, masked = mask_tokens(model._code_tokens(codes), slots, t, model.mask_id)  # [B, k*H]
        terms = {}
        blocks = [] if dense_step else None  # each block's slot states, for the dense head
        if model.item_head is None:
            states = model(model._item_vectors(history), history > 0, noised, layer_states=blocks)  # [B, k*H, d]
        else:
            all_masked = torch.full_like(noised, model.mask_id)  # [B, k*H]
            states, masked_states = self._slots_twice(model, history, noised, all_masked, blocks)  # [B, k*H, d] x2
            first = targets[:, 0]  # [B]: the next item
            target_vectors = model._item_vectors(first[:, None])[:, 0]  # [B, d]
            terms["item"] = torch.stack(model.item_head.loss_terms(masked_states[:, : model.sid_length], first,
                                                                   target_vectors, *candidates))  # [2]
        logits = model._slot_logits(states)  # [B, k*H, K]
        terms["token"] = torch.stack(diffusion_loss_terms(logits, codes, masked, row_weights(t, self.loss_weight)))
        if dense_step:  # (next_k is 1 with dense retrieval)
            terms["dense"] = torch.stack(model.dense.loss_terms(model.dense_input(states, blocks), target))  # [2]
        return terms

    def loss(self, terms: dict) -> torch.Tensor:
        loss = self.token_loss_weight * weighted_mean(*terms["token"])
        if "item" in terms:
            loss = loss + self.item_loss_weight * weighted_mean(*terms["item"])
        if "dense" in terms:
            loss = loss + self.dense_loss_weight * weighted_mean(*terms["dense"])
        return loss

    @staticmethod
    def _slots_twice(model, history, first_tokens, second_tokens, layer_states: list | None = None):
        """Two sets of target slots over one history, encoded once (`history_only`: the history's
        states do not depend on the slots). history [B, T], tokens [B, S] x2 -> states [B, S, d] x2;
        layer_states receives the first set's per-block states."""
        real = history > 0  # [B, T]
        batch = history.shape[0]
        memory = model.encoder.encode_prefix(model._item_vectors(history), real, model.slots)  # per layer KV
        memory = [(k.repeat(2, 1, 1, 1), v.repeat(2, 1, 1, 1)) for k, v in memory]  # [2B, h, T, hd] x2
        tokens = torch.cat([first_tokens, second_tokens], dim=0)  # [2B, S]
        blocks = None if layer_states is None else []
        states = model(memory, real.repeat(2, 1), tokens, layer_states=blocks)  # [2B, S, d]
        if layer_states is not None:
            layer_states.extend(block[:batch] for block in blocks)  # [B, S, d] per block
        return states.split(batch)  # [B, S, d] x2


def objective_for(config):
    """The objective of the configured history layout, holding its settings."""
    common = dict(t_min=float(config["mask_t_min"]), loss_weight=config["loss_weight"],
                  token_loss_weight=float(config["token_loss_weight"]))
    if config["history_tokens"] == "items":
        return CleanItemsObjective(**common, item_loss_weight=float(config["item_loss_weight"]),
                                   dense_loss_weight=float(config["dense_loss_weight"]))
    return PaperObjective(**common, clean_history_share=float(config["clean_history_share"]),
                          item_mask_prob=float(config["item_mask_prob"]),
                          target_mask_prob=float(config["target_mask_prob"]))
