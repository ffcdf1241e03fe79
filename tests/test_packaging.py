"""setup.py must list every package folder: an editable install finds a missing one anyway, a
`pip install .` would ship without it."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_setup_lists_every_package_folder():
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    listed = {node.value for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("recbole_maskgr")}
    folders = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "recbole_maskgr").rglob("__init__.py")}
    assert folders - listed == set()
