"""Recommendations from a trained checkpoint: `python -m recbole_maskgr.recommend --help`.

    from recbole_maskgr.recommend import recommend, Recommender
    recommend("saved/MaskGR-<time>.pth", users=["1", "2"], k=10)          # rows: user, rank, item, title, score
    Recommender("saved/MaskGR-<time>.pth").recommend(history=["50", "172"])  # load once, ask many times
"""

from recbole_maskgr.recommend.catalog import RecommendError
from recbole_maskgr.recommend.core import Recommender, recommend

__all__ = ["RecommendError", "Recommender", "recommend"]
