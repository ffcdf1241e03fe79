"""Raw public data -> RecBole atomic files (`python -m recbole_maskgr.convert amazon ...`).

Converters stream their input, check everything before writing, and write atomically.
"""
