"""The encoder's history-only layout: the mask by hand, and cached passes equal to one masked pass."""

import pytest
import torch

from recbole_maskgr.model.layers import Attention, BidirectionalEncoder, Block, layout_mask
from recbole_maskgr.model.tiger import upgrade_legacy_decoder_state


def test_layout_mask_by_hand():
    # one padding position, two history items, two target slots
    key_mask = torch.tensor([[False, True, True, True, True]])
    got = layout_mask(key_mask, suffix=2)[0, 0].int().tolist()
    assert got == [
        [1, 1, 1, 0, 0],  # padding: sees itself (never an empty row) and the real history
        [0, 1, 1, 0, 0],  # history: only the real history
        [0, 1, 1, 0, 0],
        [0, 1, 1, 1, 1],  # target slots: everything real
        [0, 1, 1, 1, 1],
    ]
    assert layout_mask(key_mask, suffix=0)[0, 0].int().tolist()[1] == [0, 1, 1, 1, 1]


def ragged_inputs(history: int, slots: int, width: int, seed: int = 0):
    """Embedded inputs [4, T+S, d] with left padding of 0, 1, 4 and T (an empty history)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, history + slots, width, generator=g)
    real = torch.ones(4, history + slots, dtype=torch.bool)
    for row, padding in enumerate([0, 1, 4, history]):
        real[row, :padding] = False
    return x, real


@pytest.mark.parametrize("position", ["learned", "rotary"])
def test_cached_history_gives_the_states_of_one_masked_pass(position):
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(50, 32, 16, 2, 2, 32, 0.0, position).eval()
    history, slots = 6, 3
    x, real = ragged_inputs(history, slots, 16)
    one_pass_blocks, cached_blocks = [], []  # each block's states too (the dense head may read one)
    with torch.no_grad():
        one_pass = encoder.forward_embedded(x, real, suffix=slots, layer_states=one_pass_blocks)  # [4, T+S, d]
        memory = encoder.encode_prefix(x[:, :history], real[:, :history], slots)
        cached = encoder.encode_suffix(x[:, history:], memory, real, layer_states=cached_blocks)  # [4, S, d]
    assert not torch.isnan(one_pass).any()
    assert torch.allclose(cached, one_pass[:, history:], atol=1e-5)
    assert len(one_pass_blocks) == len(cached_blocks) == 2
    for whole, slots_only in zip(one_pass_blocks, cached_blocks):
        assert torch.allclose(slots_only, whole[:, history:], atol=1e-5)
    assert not torch.allclose(one_pass_blocks[0], one_pass_blocks[1])
    assert torch.allclose(encoder.norm(one_pass_blocks[1]), one_pass, atol=1e-6)  # the last, before the norm


def test_history_states_do_not_depend_on_the_target_slots():
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(50, 32, 16, 2, 2, 32, 0.0).eval()
    history, slots = 6, 3
    x, real = ragged_inputs(history, slots, 16)
    other = x.clone()
    other[:, history:] = torch.randn(4, slots, 16)
    with torch.no_grad():
        layout = [encoder.forward_embedded(v, real, suffix=slots) for v in (x, other)]
        full = [encoder.forward_embedded(v, real) for v in (x, other)]
    assert torch.equal(layout[0][:, :history], layout[1][:, :history])
    assert not torch.allclose(layout[0][:, history:], layout[1][:, history:], atol=1e-3)
    real_history = real[:, :history]
    assert not torch.allclose(full[0][:, :history][real_history], full[1][:, :history][real_history], atol=1e-3)


def old_tiger_block_state(state: dict) -> dict:
    """A decoder block's weights as TIGER saved them before the shared Block: self_attn / norm2 /
    norm3, and queries (q) apart from keys/values (kv)."""
    old = {}
    for key, value in state.items():
        name = key.replace("norm2.", "norm3.").replace("norm_cross.", "norm2.").replace(".attn.", ".self_attn.")
        for fused, (q, kv) in {"qkv.weight": ("q.weight", "kv.weight"), "qkv.bias": ("q.bias", "kv.bias")}.items():
            if name.endswith(fused):
                stem = name[: -len(fused)]
                old[stem + q], old[stem + kv] = value[:8], value[8:]
                break
        else:
            old[name] = value
    return old


def test_tiger_checkpoints_from_before_the_shared_block_are_renamed_to_it():
    torch.manual_seed(0)
    block = Block(8, 2, 16, dropout=0.0, cross_attention=True)
    state = {f"decoder.blocks.0.{k}": v for k, v in block.state_dict().items()}
    state["encoder.token_emb.weight"] = torch.randn(5, 8)
    old = old_tiger_block_state(state)
    assert {"decoder.blocks.0.self_attn.q.weight", "decoder.blocks.0.cross_attn.kv.bias",
            "decoder.blocks.0.norm3.weight"} <= set(old)  # the old names
    upgraded = upgrade_legacy_decoder_state(old)
    assert upgraded.keys() == state.keys() and all(torch.equal(upgraded[k], state[k]) for k in state)
    assert upgrade_legacy_decoder_state(state) is state  # current checkpoints pass through


def test_cross_attention_equals_self_attention_over_the_same_tokens():
    """The fused projection's query rows and key/value rows are the same split both ways."""
    torch.manual_seed(0)
    attention = Attention(8, 2, dropout=0.0).eval()
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(attention.cross(x, attention.keys_values(x)), attention(x)[0])
