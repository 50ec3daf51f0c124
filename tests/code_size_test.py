"""No function or method of the package is longer than 60 lines (issue #23): long ones are split by
what they do."""
import ast

from tests.conftest import REPO_ROOT

MAX_LINES = 60


def test_no_function_over_60_lines() -> None:
    long = []
    for path in sorted((REPO_ROOT / "ere_allennlp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 60 lines: " + "; ".join(long)
