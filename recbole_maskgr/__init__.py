"""recbole-maskgr: masked diffusion over semantic IDs (MaskGR) as a RecBole plugin."""

__version__ = "0.1.0"
