"""The encoder's history-only layout: the mask by hand, and cached passes equal to one masked pass."""

import pytest
import torch

from recbole_maskgr.model.layers import BidirectionalEncoder, layout_mask


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
    with torch.no_grad():
        one_pass = encoder.forward_embedded(x, real, suffix=slots)  # [4, T+S, d]
        memory = encoder.encode_prefix(x[:, :history], real[:, :history], slots)
        cached = encoder.encode_suffix(x[:, history:], memory, real)  # [4, S, d]
    assert not torch.isnan(one_pass).any()
    assert torch.allclose(cached, one_pass[:, history:], atol=1e-5)


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
