"""Claims 1, 2, 4, 5 and next-k: evaluations of trained checkpoints."""


def _todo(context):
    raise NotImplementedError


claim_equal_time = claim_recall_at_k = claim_decoding_steps = claim_dense_retrieval = claim_next_k = _todo
